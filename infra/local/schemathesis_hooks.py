"""Schemathesis hooks for the admin API fuzz run (infra/local/api_fuzz.py).

`cargo lambda watch`, which serves the functions locally, answers 500 itself (a problem
document, without invoking the function) to a request body that is not UTF-8: it cannot
put such a body in the Lambda event. On AWS, API Gateway hands it to the function
(base64-encoded), and the admin API answers 400 `invalidSyntax`. Schemathesis's syntax
fuzzing sends such bodies, so here they are made UTF-8 (each invalid byte becomes
U+FFFD): still not JSON, so the request still tests what the server does with a body
that is not JSON.
"""

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    raw = getattr(body, "data", body)
    if isinstance(raw, (bytes, bytearray)):
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            case.body = bytes(raw).decode("utf-8", "replace").encode("utf-8")
