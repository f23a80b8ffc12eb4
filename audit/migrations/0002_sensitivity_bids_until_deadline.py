from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='sensitivity',
            field=models.CharField(blank=True, choices=[('', '审计人员可见'), ('until_bid_deadline', '投标截止前保密'), ('bids_until_deadline', '投标截止前对所有人保密')], max_length=30, verbose_name='保密级别'),
        ),
    ]
