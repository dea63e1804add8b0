"""Pretrained weights: where they come from, where they are cached, and how they are fetched.

`local` holds the one rule telling a local path from a Hugging Face Hub id; `catalog` names every
published file mapfree can use (MicKey, DINOv2, Depth Anything, DPT, the learned matchers); `fetch`
downloads them into the caches their libraries read (torch hub, Hugging Face Hub) and turns a missing
file with no network into a one-line error naming `mapfree weights download NAME`.
"""
