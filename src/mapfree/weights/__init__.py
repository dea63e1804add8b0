"""Pretrained weights: where they come from, where they are cached, and how they get there.

`catalog` names every published file mapfree can use (MicKey, DINOv2, Depth Anything, DPT, the learned
matchers) with its licence; `caches` finds the caches their libraries read (torch hub, Hugging Face Hub)
and what is in them, without importing either library; `fetch` downloads into them, turning a missing
file with no network into one line; `install` places a copy fetched elsewhere (`mapfree weights import`)
after the checks of `verify`, which downloads pass too; `local` holds the one rule telling a local path
from a Hub repo id and `names` the one adding catalogue names to it (`from_pretrained("mickey")`).
"""
