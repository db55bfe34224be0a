"""Writes for cross-sell: rebuild the category affinity table from all purchases, set-based."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from customers.models import CategoryAffinity, Purchase

# Pairs bought together by fewer customers than this are noise and are left out.
DEFAULT_MIN_CUSTOMERS = 5

# One statement: distinct (customer, category) pairs, customers per category, a self-join on the
# customer counting customers per ordered pair of categories, kept when supported by enough
# customers. PostgreSQL materialises ``pairs`` once (it is referenced more than once); SQLite
# runs the same text (the WITH inside the INSERT, so that both report the rows inserted).
REBUILD_SQL = """
INSERT INTO {affinity} (category, other_category, customers_both, customers_category,
                        customers_other, confidence, lift, computed_at)
WITH pairs AS (
    SELECT DISTINCT customer_id, category FROM {purchases} WHERE category <> ''
),
per_category AS (
    SELECT category, COUNT(*) AS customers FROM pairs GROUP BY category
),
buyers AS (
    SELECT COUNT(DISTINCT customer_id) AS customers FROM pairs
),
together AS (
    SELECT a.category AS category, b.category AS other_category, COUNT(*) AS customers
    FROM pairs a JOIN pairs b ON b.customer_id = a.customer_id AND b.category <> a.category
    GROUP BY a.category, b.category
    HAVING COUNT(*) >= %s
)
SELECT t.category, t.other_category, t.customers, pc.customers, po.customers,
       CAST(t.customers AS DOUBLE PRECISION) / pc.customers,
       CAST(t.customers AS DOUBLE PRECISION) * buyers.customers
           / (CAST(pc.customers AS DOUBLE PRECISION) * po.customers),
       %s
FROM together t
JOIN per_category pc ON pc.category = t.category
JOIN per_category po ON po.category = t.other_category
CROSS JOIN buyers
"""


@transaction.atomic
def category_affinity_rebuild(
    *, min_customers: int = DEFAULT_MIN_CUSTOMERS, computed_at: datetime | None = None
) -> int:
    """Replace the category affinity table with one computed from every purchase now.

    Readers keep seeing the previous table until the rebuild commits. Returns the number of
    category pairs stored (ordered pairs: A→B and B→A are both kept, with their own confidence).
    """
    if min_customers < 1:
        raise ValueError("min_customers must be at least 1")
    quote = connection.ops.quote_name
    sql = REBUILD_SQL.format(
        purchases=quote(Purchase._meta.db_table), affinity=quote(CategoryAffinity._meta.db_table)
    )
    moment = computed_at or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(CategoryAffinity._meta.db_table)}")
        cursor.execute(sql, [min_customers, connection.ops.adapt_datetimefield_value(moment)])
        stored = cursor.rowcount
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {quote(CategoryAffinity._meta.db_table)}")
    return stored
