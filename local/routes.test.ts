import { describe, expect, it } from "vitest";
import { TRIP_ACTIONS } from "../shared/trips/state-machine";
import { routeFor } from "./routes";

describe("routeFor", () => {
  it("routes the public API by method and path, ignoring the query string", () => {
    expect(routeFor("POST", "/v1/trips")).toBe("create-trip");
    expect(routeFor("GET", "/v1/trips?limit=10&cursor=abc")).toBe("list-trips");
    expect(routeFor("HEAD", "/v1/trips")).toBe("list-trips");
    expect(routeFor("GET", "/v1/trips/vn_0190")).toBe("get-trip");
    expect(routeFor("HEAD", "/v1/trips/vn_0190")).toBe("get-trip");
    expect(routeFor("POST", "/v1/trips/vn_0190/accept")).toBe("update-trip");
    expect(routeFor("GET", "/v1/drivers/search?lat=10.7&lng=106.7")).toBe("search-drivers");
    expect(routeFor("POST", "/v1/drivers/me/location")).toBe("update-location");
    expect(routeFor("GET", "/v1/trips/vn_0190/ws?token=x")).toBe("watch-trip");
    expect(routeFor("GET", "/v1/trips/vn_0190/events")).toBe("watch-trip");
    expect(routeFor("GET", "/v1/trips/ws")).toBe("get-trip");
    expect(routeFor("GET", "/v1/trips/events")).toBe("get-trip");
  });

  it("routes the home screen's content on the API's paths and on the UIT-Go clients' own", () => {
    for (const path of ["/v1/promotions", "/promotions", "/v1/news?limit=5", "/news"]) expect(routeFor("GET", path), path).toBe("home");
    expect(routeFor("POST", "/v1/promotions")).toBeUndefined();
  });

  it("routes every action of the trip state machine, as update-trip declares them", () => {
    for (const action of TRIP_ACTIONS) expect(routeFor("POST", `/v1/trips/vn_0190/${action}`), action).toBe("update-trip");
  });

  it("knows nothing else", () => {
    expect(routeFor("PUT", "/v1/trips")).toBeUndefined();
    expect(routeFor("DELETE", "/v1/trips/vn_0190")).toBeUndefined();
    expect(routeFor("POST", "/v1/trips/vn_0190/teleport")).toBeUndefined();
    expect(routeFor("GET", "/")).toBeUndefined();
  });

  it("routes a Knative host name to its function whatever the path, as Kourier does", () => {
    expect(routeFor("POST", "/", "create-trip.default.127.0.0.1.sslip.io")).toBe("create-trip");
    expect(routeFor("GET", "/v1/trips/x", "create-trip.uitgo.127.0.0.1.sslip.io:8080")).toBe("create-trip");
    expect(routeFor("POST", "/v1/trips", "127.0.0.1:8080")).toBe("create-trip");
    expect(routeFor("POST", "/v1/trips", "example.com")).toBe("create-trip");
  });

  it("knows no host name of an internal function, in any spelling, whatever the path", () => {
    for (const name of ["assign-driver", "record-locations", "settle-dead-letters"]) {
      for (const host of [
        `${name}.default.127.0.0.1.sslip.io`,
        `${name.toUpperCase()}.DEFAULT.127.0.0.1.SSLIP.IO`,
        `${name}.default.127.0.0.1.sslip.io.`,
        `${name}.other.127.0.0.1.sslip.io:8080`,
      ]) {
        for (const path of ["/", "/metrics", "/forgotten-trips", "/v1/trips"])
          expect(routeFor("POST", path, host), `${host} ${path}`).toBeUndefined();
      }
    }
  });
});
