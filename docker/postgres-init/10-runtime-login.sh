#!/bin/sh
# The login the API and workers connect with; the first migration run grants it referral_runtime's data-only rights.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE referrals_app LOGIN PASSWORD :'password';
SQL
