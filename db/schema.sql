-- Applied to every region shard database. Idempotent: safe to run on every start-up.
CREATE TABLE IF NOT EXISTS trips (
  id              text PRIMARY KEY,
  rider_id        text NOT NULL,
  driver_id       text,
  service_id      text NOT NULL,
  origin_text     text NOT NULL,
  dest_text       text NOT NULL,
  origin_lat      double precision NOT NULL,
  origin_lng      double precision NOT NULL,
  dest_lat        double precision NOT NULL,
  dest_lng        double precision NOT NULL,
  status          text NOT NULL,
  idempotency_key text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT trips_status_valid CHECK (status IN ('requested', 'assigned', 'accepted', 'in_ride', 'completed', 'cancelled', 'no_driver')),
  CONSTRAINT trips_driver_when_matched CHECK (driver_id IS NOT NULL OR status IN ('requested', 'cancelled', 'no_driver')),
  CONSTRAINT trips_idempotency UNIQUE (rider_id, idempotency_key)
);

-- The last line of defence for "a driver is never on two active trips", whatever the geo-index says.
CREATE UNIQUE INDEX IF NOT EXISTS trips_one_active_trip_per_driver
  ON trips (driver_id) WHERE status IN ('assigned', 'accepted', 'in_ride');

CREATE INDEX IF NOT EXISTS trips_rider_created ON trips (rider_id, created_at DESC);
