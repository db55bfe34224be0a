from customers.models.imports import (
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportState,
    ImportTemplate,
)
from customers.models.people import (
    DEFAULT_SOURCE,
    Channel,
    ConsentRecord,
    Customer,
    DoNotContact,
    Gender,
    ProductRefusal,
    Purchase,
)

__all__ = [
    "DEFAULT_SOURCE",
    "Channel",
    "ConsentRecord",
    "Customer",
    "DoNotContact",
    "Gender",
    "ImportJob",
    "ImportKind",
    "ImportRowError",
    "ImportState",
    "ImportTemplate",
    "ProductRefusal",
    "Purchase",
]
