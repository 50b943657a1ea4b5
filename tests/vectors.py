"""The venues' signing test vectors (docs/venues/aster.md#test-vectors,
docs/venues/backpack.md#test-vectors): what the clients must produce and what the simulators
must accept, each checked against the documentation rather than against the other."""

# --- signing vectors: docs/venues/aster.md#test-vectors ---------------------------------------

V1_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
V1_PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
V1_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
V1_MIXED_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
V1_MIXED_BODY = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
V1_MIXED_SIGNATURE = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"

V3_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
V3_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
V3_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
V3_NONCE = 1_750_000_000_000_000
V3_PARAMS = [
    ("symbol", "BTCUSDT"),
    ("side", "SELL"),
    ("type", "MARKET"),
    ("quantity", "0.010"),
    ("newClientOrderId", "hedge-1"),
]
V3_MSG = (
    "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.010&newClientOrderId=hedge-1"
    f"&nonce={V3_NONCE}&user={V3_USER}&signer={V3_SIGNER}"
)
V3_DOMAIN_SEPARATOR = "a95d0a7a6f3f17fcebb0c2336645385ce79cde7523f71ab147fdb7f15e9f37f9"
V3_DIGEST = "438cdc677f6e80c7bafa43781cf52a589396ccfff24254cb0ef3718d62c11c9a"
V3_SIGNATURE = (
    "923973af12188b245ee0c1563ee72f1597008c8985571e2fe53710ddbe8f9e94"
    "4635b7362b3d1a1566d2c470c50e541962adf3d473b3efd33194ef5d27729a7e1b"
)

# --- signing vectors: docs/venues/backpack.md#test-vectors ------------------------------------

BP_SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
BP_API_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
BP_CANCEL = "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000"
BP_CANCEL_SIG = (
    "5JNvIFup6BvOx0ITxfxtEn5ac317vAI78vza6AWOyTvrzDTlVnO/T0dQazXuJmS4WJbLnm17ydL4EwqW5+6aBA=="
)
BP_EXECUTE = (
    "instruction=orderExecute&clientId=42&orderType=Market&quantity=0.5&side=Bid"
    "&symbol=SOL_USDC_PERP&timestamp=1750000000000&window=5000"
)
BP_EXECUTE_SIG = (
    "cKQnGfylMctDAExpivfLgX92IGLgheXYCyKrQZiHvkOxA6dG7ivCBN+RDwHgazh/EPLz2Cf1ihVQiSOAqGZsBg=="
)
BP_SUBSCRIBE = "instruction=subscribe&timestamp=1750000000000&window=5000"
BP_SUBSCRIBE_SIG = (
    "WHLEmbhQg3PY3VWb1GoJKNBmKXDrZHeSs5pD1Q7X1owt+40k5jNqGKl1aQDpkG9K+czQBxg+8X3kyE4lj9fHDw=="
)
