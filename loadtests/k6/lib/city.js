// Ho Chi Minh City, as the bench loads it: drivers spread around the centre, pickups near it.
export const CENTRE = { lat: 10.7769, lng: 106.7009 };
const METERS_PER_DEGREE = 111320;

export function offset(from, northMeters, eastMeters) {
  return {
    lat: from.lat + northMeters / METERS_PER_DEGREE,
    lng: from.lng + eastMeters / (METERS_PER_DEGREE * Math.cos((from.lat * Math.PI) / 180)),
  };
}

/** A uniformly random point within `radiusMeters` of the centre. */
export function pointNearCentre(radiusMeters) {
  const r = radiusMeters * Math.sqrt(Math.random());
  const theta = Math.random() * 2 * Math.PI;
  return offset(CENTRE, r * Math.cos(theta), r * Math.sin(theta));
}

/** Driver i of `count`: a fixed spot within `radiusMeters`, the same on every run and in every VU. */
export function driverHome(i, count, radiusMeters) {
  // A golden-angle spiral spreads the drivers evenly with no random state to share between VUs.
  const r = radiusMeters * Math.sqrt(((i % count) + 0.5) / count);
  const theta = i * 2.399963229728653;
  return offset(CENTRE, r * Math.cos(theta), r * Math.sin(theta));
}

export function tripRequest(pickup) {
  return JSON.stringify({
    originText: "Ben Thanh Market",
    destText: "Tan Son Nhat Airport",
    serviceId: "car",
    originLat: pickup.lat,
    originLng: pickup.lng,
    destLat: 10.8185,
    destLng: 106.6588,
  });
}
