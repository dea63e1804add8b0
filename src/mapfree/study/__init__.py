"""`mapfree study`: the seed's question (does depth supervision improve MicKey?) as a controlled study."""
