"""Customer lookup indexes that build fast after a first load of a million customers.

- The unique key is (external_id, source): led by the column that tells rows apart, so its
  build sorts on abbreviated keys (a source is the same on every row of a load).
- Phone, mobile phone and e-mail are looked up by exact value only, so their indexes hold a
  64-bit hash of the value (``LookupHash``); lookups compare the hash, then the value.
"""

import customers.models.people
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0008_identifier_collation_c'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='customer',
            name='customer_unique_external_id_per_source',
        ),
        migrations.RemoveIndex(
            model_name='customer',
            name='customer_phone_idx',
        ),
        migrations.RemoveIndex(
            model_name='customer',
            name='customer_mobile_idx',
        ),
        migrations.RemoveIndex(
            model_name='customer',
            name='customer_email_idx',
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(customers.models.people.LookupHash('phone'), condition=models.Q(('phone__isnull', False)), name='customer_phone_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(customers.models.people.LookupHash('mobile_phone'), condition=models.Q(('mobile_phone__isnull', False)), name='customer_mobile_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(customers.models.people.LookupHash('email'), condition=models.Q(('email__isnull', False)), name='customer_email_idx'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(fields=('external_id', 'source'), name='customer_unique_external_id_per_source'),
        ),
    ]
