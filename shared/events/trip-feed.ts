// Each trip's changes as they happen, for the riders and drivers watching it: one core NATS subscription per process on
// the TRIPS stream's subjects, fanned out in memory by trip id. No JetStream consumer per watcher (nor per process):
// the events carry the whole trip, and a watcher that may have missed some (NATS reconnected) reads its trip again.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { DependencyUnavailable } from "../clients/dependency";
import type { Nats } from "../clients/nats";
import { log } from "../log";
import type { Principal } from "../principal";
import { isParticipant, type Trip, type TripEventType, type TripStatus } from "../trips/trip";
import { isLaterState, isTerminal } from "../trips/trip-progress";
import type { TripStore } from "../trips/trip-store";
import { parseTripEvent } from "./trip-events";
import tripsStream from "../../nats/streams/TRIPS.json" with { type: "json" };

/** What a watcher is sent: the trip as it stands (`snapshot`), then each change, named after its event. */
export interface TripUpdate {
  type: "snapshot" | TripEventType;
  status: TripStatus;
  trip: Trip;
  /** When the change was published (the event's time), or for a snapshot when the trip last changed. ISO 8601. */
  timestamp: string;
}

/** The trip as it stands, as a watcher is sent it when a watch opens and after a resync. */
function snapshotOf(trip: Trip): TripUpdate {
  return { type: "snapshot", status: trip.status, trip, timestamp: trip.updatedAt };
}

/** Why a watch ended: its trip reached a terminal state, the watcher is no longer its driver, or the process drains. */
export type WatchEnd = "terminal" | "not_participant" | "closing";

export interface WatchSink {
  send(update: TripUpdate): void;
  /** Called once, after the last update; the watch is closed by then. */
  end(reason: WatchEnd): void;
}

// How long a resync waits before reading the trip again when PostgreSQL did not answer.
const RESYNC_RETRY_MS = 1_000;

/** One watcher of one trip. Updates that come before it is started are held, so none is lost in between. */
export class TripWatch {
  /** The last state sent, or to be sent first: the trip as read when the watch opened. */
  current?: Trip;
  private sink?: WatchSink;
  private held: TripUpdate[] = [];
  private closed = false;

  constructor(
    private readonly feed: TripFeed,
    readonly tripId: string,
    readonly principal: Principal,
  ) {}

  /** Sends the trip as it stands, then every later update held or to come; ends at once if the trip is already over. */
  start(sink: WatchSink): void {
    const current = this.current;
    if (this.closed || !current) return;
    this.sink = sink;
    sink.send(snapshotOf(current));
    if (isTerminal(current.status)) return this.finish("terminal");
    const held = this.held;
    this.held = [];
    for (const update of held) this.offer(update);
  }

  /** Takes an update of the trip, and passes it on only when it is later than the last state sent. */
  offer(update: TripUpdate): void {
    if (this.closed) return;
    if (!this.sink || !this.current) {
      this.held.push(update);
      return;
    }
    if (!isLaterState(update.trip, this.current)) return;
    // A decline takes the driver off the trip: from then on it is none of theirs.
    if (!isParticipant(update.trip, this.principal)) return this.finish("not_participant");
    this.current = update.trip;
    this.sink.send(update);
    if (isTerminal(update.status)) this.finish("terminal");
  }

  /** Stops the updates without telling the sink (its connection went away, or it never started). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    this.feed.forget(this);
  }

  finish(reason: WatchEnd): void {
    if (this.closed) return;
    this.close();
    this.sink?.end(reason);
  }
}

export class TripFeed {
  private readonly watches = new Map<string, Set<TripWatch>>();
  private subscriptions: Subscription[] = [];

  constructor(
    private readonly nats: Nats,
    private readonly trips: TripStore,
  ) {
    // The subscription is made as soon as NATS first answers: a cold start's first watcher need not wait for it.
    nats.connected.then(
      (nc) => this.subscribe(nc),
      () => undefined, // Nats logs it; watch() answers 503 meanwhile.
    );
  }

  /** Watchers open in this process. */
  get size(): number {
    let n = 0;
    for (const set of this.watches.values()) n += set.size;
    return n;
  }

  /**
   * Opens a watch on the trip for `principal`, or undefined when the trip is not theirs (or does not exist). The watch
   * listens before the trip is read, so a change made meanwhile is held rather than lost. Throws DependencyUnavailable
   * when NATS or PostgreSQL does not answer.
   */
  async open(tripId: string, principal: Principal): Promise<TripWatch | undefined> {
    // Not subscribed yet means NATS has not answered since the start.
    this.nats.connection();
    if (this.subscriptions.length === 0) throw new DependencyUnavailable("nats", "not subscribed yet");
    const watch = new TripWatch(this, tripId, principal);
    this.add(watch);
    try {
      // From the primary: a replica may lag behind the events heard already.
      const trip = await this.trips.getForParticipant(tripId, principal);
      if (!trip) {
        watch.close();
        return undefined;
      }
      watch.current = trip;
      return watch;
    } catch (err) {
      watch.close();
      throw err;
    }
  }

  /** Ends every watch (the process is draining); each sink is told why. */
  closeAll(): void {
    for (const set of [...this.watches.values()]) for (const watch of [...set]) watch.finish("closing");
  }

  forget(watch: TripWatch): void {
    const set = this.watches.get(watch.tripId);
    if (!set) return;
    set.delete(watch);
    if (set.size === 0) this.watches.delete(watch.tripId);
  }

  private add(watch: TripWatch): void {
    let set = this.watches.get(watch.tripId);
    if (!set) this.watches.set(watch.tripId, (set = new Set()));
    set.add(watch);
  }

  private subscribe(nc: NatsConnection): void {
    this.subscriptions = tripsStream.subjects.map((subject) =>
      nc.subscribe(subject, { callback: (err, msg) => (err ? undefined : this.deliver(msg)) }),
    );
    void this.resyncOnReconnect(nc);
  }

  private deliver(msg: Msg): void {
    const event = parseTripEvent(msg.string());
    if (!event) return;
    const set = this.watches.get(event.trip.id);
    if (!set) return;
    const update: TripUpdate = {
      type: event.type.slice("trips.".length) as TripEventType,
      status: event.trip.status,
      trip: event.trip,
      timestamp: event.time,
    };
    for (const watch of [...set]) watch.offer(update);
  }

  // A core subscription hears nothing while NATS is away: after each reconnect every watched trip is read again,
  // once for all its watchers.
  private async resyncOnReconnect(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type !== "reconnect") continue;
      log("info", "trip feed reconnected, resyncing watchers", { trips: this.watches.size, watchers: this.size });
      for (const tripId of this.watches.keys()) void this.resync(tripId);
    }
  }

  private async resync(tripId: string): Promise<void> {
    while (this.watches.has(tripId)) {
      try {
        const trip = await this.trips.get(tripId);
        if (!trip) return;
        const update = snapshotOf(trip);
        for (const watch of [...(this.watches.get(tripId) ?? [])]) watch.offer(update);
        return;
      } catch (err) {
        log("warn", "trip resync failed, retrying", { tripId, err: String(err) });
        await new Promise((resolve) => setTimeout(resolve, RESYNC_RETRY_MS));
      }
    }
  }
}
