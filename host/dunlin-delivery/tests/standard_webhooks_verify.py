"""Verifies one recorded webhook delivery with the Standard Webhooks reference library.

Reads a JSON object on stdin: "secret" (whsec_...), "headers" (name to value) and "body"
(base64 of the raw body). Prints the verified payload as JSON and exits 0, or prints the
library's refusal and exits 1.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
try:
    payload = Webhook(request["secret"]).verify(
        base64.b64decode(request["body"]), request["headers"]
    )
except WebhookVerificationError as err:
    print(f"refused: {err}")
    sys.exit(1)
print(json.dumps(payload))
