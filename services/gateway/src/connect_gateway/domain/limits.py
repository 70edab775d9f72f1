"""Size limits of requests, so nothing valid-looking overflows a database column or the message bus.

The business rules (a job name of at most 100 characters, identifiers of at most 63) are in `rules`; these
caps only keep absurd input from turning into a misleading "unavailable" further down.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1  # job ids are PostgreSQL bigint
MAX_INT = 2**31 - 1  # run ids, versions and column sizes are PostgreSQL int

MAX_BODY_BYTES = 1024 * 1024
# Kafka refuses records over 1 MiB (broker `message.max.bytes`, producer `max_request_size`); the events
# the scheduler derives from a command carry the same definition plus a slightly larger envelope.
MAX_COMMAND_BYTES = 1_000_000

MAX_DESCRIPTION = 4000
MAX_MAPPINGS = 1000
MAX_MAPPING_NAME = 200
MAX_COLUMNS = 1000
MAX_HEADER_NAMES = 10000  # names of a header sent for auto-mapping
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer identifiers
MAX_HOST = 254  # 253 characters of a DNS name and its optional trailing root dot
MAX_USER = 255
MAX_PATH = 1024
MAX_PRIVATE_KEY = 16384
MAX_PASSWORD = 1024
MAX_HOST_KEY = 8192  # an OpenSSH line of a 16384-bit RSA key is about 2,800 characters
MAX_SEARCH = 100
MAX_IDEMPOTENCY_KEY = 200
MAX_TIME_ZONE = 64  # the longest IANA names are about 30 characters
MAX_CRON = 200
MAX_CURSOR = 1000  # a cursor holds one sort value (a name is at most 100 characters) and two ids
MAX_PAGE = 1000  # rows per page
MAX_BULK_DELETE = 100  # jobs per multi-delete
MAX_EMAILS = 100  # notification addresses per request (the scheduler's rule allows 20, naming the field)
MAX_EMAIL = 320
MAX_WEBHOOK_URL = 4000  # the scheduler's rule allows 2000, naming the field
MAX_GROUP_MEMBERS = 1000  # per request (the scheduler's rule allows 100, naming the field)
MAX_PETS = 100  # PETs one profile import fills
MAX_VALUE_CHOICES = 100  # source values of one choice of a permission or e-mail format mapping
MAX_PREVIEW_ROWS = 100  # rows of a list or PET one preview shows
