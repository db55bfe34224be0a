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
from customers.models.segments import (
    CustomerRfm,
    RfmMethod,
    RfmSettings,
    Segment,
    SegmentationRun,
    SegmentTransition,
    TransitionCause,
)

__all__ = [
    "DEFAULT_SOURCE",
    "Channel",
    "ConsentRecord",
    "Customer",
    "CustomerRfm",
    "DoNotContact",
    "Gender",
    "ImportJob",
    "ImportKind",
    "ImportRowError",
    "ImportState",
    "ImportTemplate",
    "ProductRefusal",
    "Purchase",
    "RfmMethod",
    "RfmSettings",
    "Segment",
    "SegmentTransition",
    "SegmentationRun",
    "TransitionCause",
]
