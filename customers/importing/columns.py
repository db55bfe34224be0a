"""What an import can fill, and how file headers map to it.

A mapping is ``{header in the file: target}`` where target is a field name of the import kind,
``"attr:<key>"`` to keep the column in the record's ``attributes``, or ``""`` to ignore it.
Headers that match no field go to attributes by default: nothing in the file is thrown away.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.models import ImportKind

ATTRIBUTE_PREFIX = "attr:"
IGNORE = ""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str  # the normaliser used: text, name, kana, phone, email, date, datetime, …
    aliases: tuple[str, ...]
    max_length: int | None = None


_CUSTOMER_ID_ALIASES = (
    "顧客id",
    "顧客番号",
    "顧客コード",
    "顧客no",
    "会員id",
    "会員番号",
    "会員コード",
    "customerid",
    "customerno",
    "customercode",
    "externalid",
    "memberid",
    "id",
)

CUSTOMER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("external_id", _("Customer id"), "text", _CUSTOMER_ID_ALIASES, 128),
    FieldSpec(
        "name",
        _("Name"),
        "name",
        ("氏名", "名前", "お名前", "顧客名", "会員名", "name", "fullname", "customername"),
        200,
    ),
    FieldSpec(
        "last_name",
        _("Family name"),
        "name",
        ("姓", "苗字", "名字", "lastname", "familyname", "surname"),
        100,
    ),
    FieldSpec("first_name", _("Given name"), "name", ("名", "firstname", "givenname"), 100),
    FieldSpec(
        "name_kana",
        _("Name (kana)"),
        "kana",
        (
            "フリガナ",
            "ふりがな",
            "カナ",
            "氏名カナ",
            "氏名フリガナ",
            "氏名ふりがな",
            "カナ氏名",
            "kana",
            "namekana",
            "furigana",
        ),
        200,
    ),
    FieldSpec(
        "last_name_kana",
        _("Family name (kana)"),
        "kana",
        ("セイ", "姓カナ", "姓フリガナ", "せい"),
        100,
    ),
    FieldSpec(
        "first_name_kana",
        _("Given name (kana)"),
        "kana",
        ("メイ", "名カナ", "名フリガナ", "めい"),
        100,
    ),
    FieldSpec(
        "email",
        _("E-mail"),
        "email",
        (
            "メールアドレス",
            "メール",
            "eメール",
            "eメールアドレス",
            "pcメール",
            "email",
            "mail",
            "emailaddress",
            "mailaddress",
        ),
    ),
    FieldSpec(
        "phone",
        _("Phone"),
        "phone",
        (
            "電話番号",
            "電話",
            "tel",
            "固定電話",
            "自宅電話",
            "自宅電話番号",
            "phone",
            "phonenumber",
            "telephone",
            "telno",
        ),
    ),
    FieldSpec(
        "mobile_phone",
        _("Mobile phone"),
        "phone",
        (
            "携帯電話",
            "携帯",
            "携帯番号",
            "携帯電話番号",
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "mobileno",
        ),
    ),
    FieldSpec(
        "birth_date",
        _("Birth date"),
        "date",
        ("生年月日", "誕生日", "birthday", "birthdate", "dateofbirth", "dob"),
    ),
    FieldSpec("gender", _("Gender"), "gender", ("性別", "gender", "sex")),
    FieldSpec(
        "postal_code",
        _("Postal code"),
        "postal_code",
        ("郵便番号", "〒", "zip", "zipcode", "postalcode", "postcode"),
    ),
    FieldSpec(
        "prefecture",
        _("Prefecture / region"),
        "prefecture",
        ("都道府県", "県", "prefecture", "state", "region", "province"),
        64,
    ),
    FieldSpec(
        "address", _("Address"), "text", ("住所", "住所1", "address", "address1", "street"), 400
    ),
    FieldSpec(
        "address2",
        _("Address line 2"),
        "text",
        ("住所2", "番地", "建物名", "番地建物名", "address2"),
        200,
    ),
    FieldSpec("country", _("Country"), "country", ("国", "国コード", "country", "countrycode")),
    FieldSpec("time_zone", _("Time zone"), "time_zone", ("タイムゾーン", "timezone", "tz")),
    FieldSpec(
        "tags",
        _("Tags / interests"),
        "tags",
        ("興味", "関心", "興味関心", "タグ", "tags", "interests"),
    ),
)

PURCHASE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("customer_external_id", _("Customer id"), "text", _CUSTOMER_ID_ALIASES, 128),
    FieldSpec(
        "order_id",
        _("Order id"),
        "text",
        (
            "注文番号",
            "注文id",
            "注文no",
            "受注番号",
            "伝票番号",
            "orderid",
            "orderno",
            "ordernumber",
        ),
        128,
    ),
    FieldSpec(
        "line_id",
        _("Order line"),
        "text",
        ("明細番号", "明細no", "行番号", "明細行", "lineid", "lineno", "linenumber"),
        32,
    ),
    FieldSpec(
        "purchased_at",
        _("Purchased at"),
        "datetime",
        (
            "購入日",
            "購入日時",
            "注文日",
            "注文日時",
            "受注日",
            "売上日",
            "purchasedat",
            "purchasedate",
            "orderdate",
            "date",
        ),
    ),
    FieldSpec(
        "product_code",
        _("Product code"),
        "text",
        ("商品コード", "品番", "商品番号", "sku", "productcode", "itemcode"),
        128,
    ),
    FieldSpec(
        "product_name",
        _("Product"),
        "text",
        ("商品名", "品名", "商品", "product", "productname", "item", "itemname"),
        300,
    ),
    FieldSpec(
        "category",
        _("Category"),
        "text",
        ("カテゴリ", "カテゴリー", "分類", "商品カテゴリ", "商品分類", "category"),
        200,
    ),
    FieldSpec("quantity", _("Quantity"), "integer", ("数量", "個数", "qty", "quantity")),
    FieldSpec("unit_price", _("Unit price"), "amount", ("単価", "unitprice", "price")),
    FieldSpec(
        "amount",
        _("Amount"),
        "amount",
        ("金額", "合計", "合計金額", "売上金額", "購入金額", "小計", "amount", "total", "subtotal"),
    ),
    FieldSpec("currency", _("Currency"), "currency", ("通貨", "currency")),
)

FIELDS_BY_KIND: dict[str, tuple[FieldSpec, ...]] = {
    ImportKind.CUSTOMERS: CUSTOMER_FIELDS,
    ImportKind.PURCHASES: PURCHASE_FIELDS,
}


def fields_for(kind: str) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in FIELDS_BY_KIND[kind]}


_STRIP = re.compile(r"[\s_\-‐－・()（）\[\]【】:：/.。]+")


def canonical_header(header: str) -> str:
    """Fold a header for alias lookup: NFKC, lower case, no spaces or punctuation."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", header).strip().lower())


def suggest_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Map each header to a field by its aliases; the first header claiming a field wins.

    Unrecognised headers go to attributes under their own (stripped) name.
    """
    alias_to_field: dict[str, str] = {}
    for spec in FIELDS_BY_KIND[kind]:
        for alias in (spec.name, *spec.aliases):
            alias_to_field.setdefault(canonical_header(alias), spec.name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        field = alias_to_field.get(canonical_header(header))
        if field and field not in taken:
            mapping[header] = field
            taken.add(field)
        else:
            mapping[header] = ATTRIBUTE_PREFIX + header.strip()
    return mapping


class MappingError(ValueError):
    pass


def validate_mapping(
    kind: str, headers: list[str], mapping: dict[str, str], match_by: list[str]
) -> None:
    """Refuse a mapping that cannot produce records, with a message that says what to fix."""
    specs = fields_for(kind)
    unknown_headers = sorted(set(mapping) - set(headers))
    if unknown_headers:
        raise MappingError(
            gettext("The mapping names columns that are not in the file: %(cols)s")
            % {"cols": ", ".join(unknown_headers)}
        )
    seen: dict[str, str] = {}
    for header, target in mapping.items():
        if target == IGNORE or target.startswith(ATTRIBUTE_PREFIX):
            if target.startswith(ATTRIBUTE_PREFIX) and not target[len(ATTRIBUTE_PREFIX) :].strip():
                raise MappingError(
                    gettext("Column “%(col)s” needs an attribute name.") % {"col": header}
                )
            continue
        if target not in specs:
            raise MappingError(
                gettext("Column “%(col)s” is mapped to an unknown field “%(field)s”.")
                % {"col": header, "field": target}
            )
        if target in seen:
            raise MappingError(
                gettext("Columns “%(a)s” and “%(b)s” are both mapped to %(field)s; choose one.")
                % {"a": seen[target], "b": header, "field": specs[target].label}
            )
        seen[target] = header
    targets = set(seen)
    if kind == ImportKind.CUSTOMERS:
        if not targets & {"external_id", "phone", "mobile_phone", "email"}:
            raise MappingError(
                gettext(
                    "Map at least one identifying column: customer id, phone, mobile phone or e-mail."
                )
            )
        allowed = {"external_id", "phone", "email"}
        bad = [m for m in match_by if m not in allowed]
        if bad:
            raise MappingError(gettext("Unknown match key: %(keys)s") % {"keys": ", ".join(bad)})
    else:
        missing = [
            str(specs[name].label)
            for name in ("customer_external_id", "purchased_at")
            if name not in targets
        ]
        if not targets & {"amount", "unit_price"}:
            missing.append(str(specs["amount"].label))
        if missing:
            raise MappingError(
                gettext("Purchases need these columns mapped: %(cols)s")
                % {"cols": ", ".join(missing)}
            )
