"""Copy-paste examples shown on the console's API page and in docs/api.md. The webhook signature
check is the one tests/api/test_webhooks.py runs its receiver with, so the documented snippet is
known to work."""

CURL_SEND = """curl -sS https://switchboard.example/api/v1/messages \\
  -H "Authorization: Bearer $SWITCHBOARD_KEY" \\
  -H "Content-Type: application/json" \\
  -H "Idempotency-Key: order-1042-shipped" \\
  -d '{"to": "+14155552671", "from": "Acme", "text": "Your order 1042 has shipped.",
       "client_ref": "order-1042", "callback_url": "https://example.com/hooks/sms"}'"""

CURL_VERIFY = """curl -sS https://switchboard.example/api/v1/verify \\
  -H "Authorization: Bearer $SWITCHBOARD_KEY" -H "Content-Type: application/json" \\
  -d '{"to": "+14155552671", "from": "Acme"}'
curl -sS https://switchboard.example/api/v1/verify/check \\
  -H "Authorization: Bearer $SWITCHBOARD_KEY" -H "Content-Type: application/json" \\
  -d '{"to": "+14155552671", "code": "123456"}'"""

PYTHON_SEND = """import os
import httpx  # or requests: the API is plain JSON over HTTPS

api = httpx.Client(base_url="https://switchboard.example/api/v1",
                   headers={"Authorization": f"Bearer {os.environ['SWITCHBOARD_KEY']}"}, timeout=10)
response = api.post("/messages", json={"to": "+14155552671", "from": "Acme", "text": "Hello!"},
                    headers={"Idempotency-Key": "hello-14155552671-1"})
if response.status_code == 201:
    print("queued as", response.json()["id"])
else:
    problem = response.json()  # RFC 9457: type, title, status, detail, errors
    print(problem["type"], problem["detail"])"""

VERIFY_SNIPPET = """import hashlib
import hmac
import time


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    \"\"\"True when `header` (the Switchboard-Signature header) signs the raw request `body` with
    your webhook `secret`, and was made within `tolerance` seconds.\"\"\"
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))"""

RECEIVER_SNIPPET = """last_seq = {}  # message_id → highest seq applied (keep it in your database)


def apply(event: dict) -> None:
    data = event["data"]
    if event["type"].startswith("message."):
        if event["seq"] <= last_seq.get(data["message_id"], 0):
            return  # a retry or an older event: never move a status backwards
        last_seq[data["message_id"]] = event["seq"]
    ...  # update your order, your user, your ticket"""
