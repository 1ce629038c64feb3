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

-- Drivers who declined the trip: matching never offers it to them again.
ALTER TABLE trips ADD COLUMN IF NOT EXISTS declined_by text[] NOT NULL DEFAULT '{}';

-- Trips waiting for a driver, by when they entered matching: how settle-dead-letters finds those matching will
-- never end. Partial, so it holds only the trips being matched now.
CREATE INDEX IF NOT EXISTS trips_requested_since ON trips (updated_at) WHERE status = 'requested';

-- Location history: every accepted driver location update, written in batches by record-locations from the
-- DRIVER_LOCATIONS stream. The key is the update's identity (its Nats-Msg-Id), so a redelivered event adds no row.
CREATE TABLE IF NOT EXISTS driver_locations (
  driver_id   text NOT NULL,
  recorded_at timestamptz NOT NULL,
  lat         double precision NOT NULL,
  lng         double precision NOT NULL,
  accuracy    double precision,
  heading     double precision,
  speed       double precision,
  status      text NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT driver_locations_update PRIMARY KEY (driver_id, recorded_at),
  CONSTRAINT driver_locations_status_valid CHECK (status IN ('available', 'offline'))
);

-- A rider's active trips: what create-trip counts, under a per-rider lock, before it books one more. Partial, so it
-- holds only the trips under way, however long a rider's history grows.
CREATE INDEX IF NOT EXISTS trips_rider_active ON trips (rider_id) WHERE status IN ('requested', 'assigned', 'accepted', 'in_ride');

-- Trip history (list-trips): a rider's bookings and a driver's trips, newest first, in keyset pages of
-- (created_at, id) < the cursor's. Each index hands one party's rows over in exactly that order, the id breaking ties
-- between the trips one batched insert created at the same instant, so a page is an index scan with no sort however
-- long the history. The rider's replaces trips_rider_created (rider_id, created_at DESC), which could not resume a
-- page between trips of the same instant; the driver's leaves out the trips nobody drives.
CREATE INDEX IF NOT EXISTS trips_rider_history ON trips (rider_id, created_at DESC, id DESC);
DROP INDEX IF EXISTS trips_rider_created;
CREATE INDEX IF NOT EXISTS trips_driver_history ON trips (driver_id, created_at DESC, id DESC) WHERE driver_id IS NOT NULL;

-- Home-screen content (the home function): each shard holds the promotions and news of its own region, and home
-- merges every shard's. A promotion is shown from valid_from until valid_until; a news item once published_at has
-- passed. Both are read through a Redis cache (home:promotions, home:news:<limit>), never written by a function.
CREATE TABLE IF NOT EXISTS promotions (
  id          text PRIMARY KEY,
  title       text NOT NULL,
  body        text NOT NULL,
  image_url   text,
  valid_from  timestamptz NOT NULL,
  valid_until timestamptz NOT NULL,
  CONSTRAINT promotions_valid_period CHECK (valid_until > valid_from)
);

CREATE INDEX IF NOT EXISTS promotions_valid_until ON promotions (valid_until);

CREATE TABLE IF NOT EXISTS news (
  id           text PRIMARY KEY,
  title        text NOT NULL,
  summary      text NOT NULL,
  image_url    text,
  published_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS news_published_at ON news (published_at DESC);
