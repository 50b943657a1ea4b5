"""The Backpack simulator: Backpack's REST and WebSocket API over the shared matching core."""
