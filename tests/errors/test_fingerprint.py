"""Grouping: the same error at the same place groups together; what varies between occurrences does not split it."""

from __future__ import annotations

from apps.errors.fingerprint import group, normalise_message, top_in_app_frame

PYTHON = """Traceback (most recent call last):
  File "/app/shop/views.py", line 42, in checkout
    charge(order)
  File "/app/shop/payments.py", line 17, in charge
    client.post(url, json=body)
  File "/usr/lib/python3.11/site-packages/requests/api.py", line 115, in post
    return request("post", url, data=data, json=json, **kwargs)
requests.exceptions.ConnectionError: Connection refused"""

NODE = """TypeError: Cannot read properties of undefined (reading 'id')
    at renderCart (/srv/web/src/cart.js:88:17)
    at Array.map (<anonymous>)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)"""

JAVA = """java.lang.IllegalStateException: stock below zero
\tat com.shop.inventory.Stock.take(Stock.java:51)
\tat com.shop.inventory.Api.reserve(Api.java:22)
\tat java.base/java.lang.Thread.run(Thread.java:833)"""


def test_messages_lose_what_varies() -> None:
    assert normalise_message("Order 12345 not found") == "Order <num> not found"
    assert normalise_message("user 'alice' (alice@example.com) has no cart 0x7f3a") == (
        "user <str> (<email>) has no cart <hex>"
    )
    assert normalise_message("id 3f2b9c1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b timed out after 30.5 s") == (
        "id <uuid> timed out after <num> s"
    )
    assert normalise_message("GET https://api.example.com/v1/x?id=4 failed\nsecond line") == "GET <url> failed"
    assert normalise_message("connect to 10.0.0.12:5432 refused") == "connect to <ip> refused"
    assert normalise_message("table users_2024 missing") == "table users_2024 missing"  # identifiers stay


def test_top_in_app_frame_skips_libraries_and_line_numbers() -> None:
    assert top_in_app_frame(PYTHON) == "/app/shop/payments.py:charge"
    assert top_in_app_frame(NODE) == "/srv/web/src/cart.js:renderCart"
    assert top_in_app_frame(JAVA) == "Stock.java:com.shop.inventory.Stock.take"
    assert top_in_app_frame("") == ""
    only_library = '  File "/usr/lib/python3.11/site-packages/x.py", line 3, in f'
    assert top_in_app_frame(only_library) == "/usr/lib/python3.11/site-packages/x.py:f"


def test_same_issue_despite_ids_and_line_numbers_different_issue_elsewhere() -> None:
    first = group("KeyError", "order 17 has no item 'sku-1'", PYTHON)
    again = group("KeyError", "order 99 has no item 'sku-42'", PYTHON.replace("line 17", "line 19"))
    assert first.fingerprint == again.fingerprint
    assert len(first.fingerprint) == 32
    assert group("ValueError", "order 17 has no item 'sku-1'", PYTHON).fingerprint != first.fingerprint
    elsewhere = PYTHON.replace("in charge", "in refund")
    assert group("KeyError", "order 17 has no item 'sku-1'", elsewhere).fingerprint != first.fingerprint
    assert group("", "boom", "").exception_type == "Error"
