"""The Aster simulator: Aster's REST and WebSocket API over the shared matching core."""
