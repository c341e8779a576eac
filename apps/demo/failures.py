"""The shop's failures, as the real services would report them: exception type, message and a stack trace
with the shop's own ("in-app") frames on top of library frames.

The traces are written out, not raised: a simulated request has no real call stack worth showing, and a
fixed text keeps the demo reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    type: str
    message: str
    stacktrace: str
    http_status: int

    def attributes(self) -> dict[str, str | bool]:
        """The semantic-convention attributes of an ``exception`` span event (and of the ERROR log record)."""
        return {
            "exception.type": self.type,
            "exception.message": self.message,
            "exception.stacktrace": self.stacktrace,
            "exception.escaped": True,
        }


def payment_gateway_unavailable(order_id: int) -> Failure:
    """payments (Python): the external payment API answered 503."""
    message = f"charge for order {order_id} failed: api.payments.example answered 503 Service Unavailable"
    return Failure(
        type="payments.gateway.PaymentGatewayError",
        message=message,
        stacktrace=f"""Traceback (most recent call last):
  File "/app/payments/api/charges.py", line 48, in create_charge
    result = gateway.charge(order_id=order.id, amount=order.total, token=request.card_token)
  File "/app/payments/gateway.py", line 112, in charge
    response = self._post("/v1/charges", json=payload, timeout=self.timeout)
  File "/app/payments/gateway.py", line 87, in _post
    raise PaymentGatewayError.from_response(response)
  File "/app/payments/errors.py", line 23, in from_response
    return cls(f"charge for order {{order_id}} failed: {{host}} answered {{status}}")
payments.gateway.PaymentGatewayError: {message}""",
        http_status=502,
    )


def stock_deadlock(variant_id: int) -> Failure:
    """inventory (Python): two reservations of the same variants locked each other."""
    message = (
        "deadlock detected\nDETAIL:  Process 48211 waits for ShareLock on transaction 918273; "
        "blocked by process 48190.\nHINT:  See server log for query details."
    )
    return Failure(
        type="psycopg.errors.DeadlockDetected",
        message=message,
        stacktrace=f"""Traceback (most recent call last):
  File "/app/inventory/api/reservations.py", line 31, in reserve
    reserved = reservations.reserve(order_id, items)
  File "/app/inventory/reservations.py", line 64, in reserve
    cursor.execute(DECREMENT_STOCK, [item.quantity, {variant_id}])
  File "/usr/local/lib/python3.12/site-packages/psycopg/cursor.py", line 97, in execute
    raise ex.with_traceback(None)
psycopg.errors.DeadlockDetected: {message}""",
        http_status=500,
    )


def product_render_error() -> Failure:
    """frontend (Next.js): a product without a price breaks the page."""
    message = "Cannot read properties of undefined (reading 'amount')"
    return Failure(
        type="TypeError",
        message=message,
        stacktrace=f"""TypeError: {message}
    at formatPrice (webpack-internal:///(rsc)/./app/lib/money.ts:12:31)
    at ProductPrice (webpack-internal:///(rsc)/./app/product/[id]/ProductPrice.tsx:18:12)
    at ProductPage (webpack-internal:///(rsc)/./app/product/[id]/page.tsx:41:7)
    at async renderToHTMLOrFlight (/app/node_modules/next/dist/server/app-render/app-render.js:1224:24)
    at async doRender (/app/node_modules/next/dist/server/base-server.js:1391:30)
    at async NextNodeServer.renderToResponseWithComponentsImpl \
(/app/node_modules/next/dist/server/base-server.js:1532:28)""",
        http_status=500,
    )
