// Demo promotions and news for the local run, in each region's shard (db/schema.sql, "Home-screen content"). Written by
// every provisioning and idempotent: a row already there is left as it is, so an edit made by hand survives a restart.
// The dates count from the first provisioning: promotions run for a year from the day before, news was published in
// the days before.
import type postgres from "postgres";
import type { Region } from "../shared/regions";

const DAY_MS = 24 * 3_600_000;
const IMAGES = "https://images.uitgo.example/home";

interface DemoPromotion {
  id: string;
  title: string;
  body: string;
  image: string;
}

interface DemoNews {
  id: string;
  title: string;
  summary: string;
  image: string;
  daysAgo: number;
}

const DEMO: Record<Region, { promotions: DemoPromotion[]; news: DemoNews[] }> = {
  vn: {
    promotions: [
      {
        id: "vn-first-ride",
        title: "20% off your first ride",
        body: "Your first car ride in Ho Chi Minh City, Hanoi or Da Nang is 20% off, up to 50,000 ₫.",
        image: "vn-first-ride.jpg",
      },
      {
        id: "vn-bike-mornings",
        title: "Morning bike rides from 12,000 ₫",
        body: "Bike rides booked between 6 and 9 am start at 12,000 ₫ in every Vietnamese city.",
        image: "vn-bike-mornings.jpg",
      },
    ],
    news: [
      {
        id: "vn-da-nang",
        title: "UIT-Go is now in Da Nang",
        summary: "Book bikes and cars anywhere within 15 km of the city centre.",
        image: "vn-da-nang.jpg",
        daysAgo: 2,
      },
      {
        id: "vn-car-xl",
        title: "Car XL for groups of up to seven",
        summary: "Choose Car XL when you book to travel with family or friends.",
        image: "vn-car-xl.jpg",
        daysAgo: 9,
      },
    ],
  },
  th: {
    promotions: [
      {
        id: "th-airport",
        title: "฿100 off rides to the airport",
        body: "Rides to Suvarnabhumi, Don Mueang, Chiang Mai or Phuket airport are ฿100 off.",
        image: "th-airport.jpg",
      },
    ],
    news: [
      {
        id: "th-phuket",
        title: "UIT-Go arrives in Phuket",
        summary: "Bikes and cars across the island, within 20 km of Phuket Town.",
        image: "th-phuket.jpg",
        daysAgo: 4,
      },
    ],
  },
};

export async function seedDemoHomeContent(db: postgres.Sql, region: Region, now = Date.now()): Promise<void> {
  const { promotions, news } = DEMO[region];
  const validFrom = new Date(now - DAY_MS);
  const validUntil = new Date(now + 365 * DAY_MS);
  const promotionRows = promotions.map(({ image, ...p }) => ({
    ...p,
    image_url: `${IMAGES}/${image}`,
    valid_from: validFrom,
    valid_until: validUntil,
  }));
  const newsRows = news.map(({ image, daysAgo, ...n }) => ({
    ...n,
    image_url: `${IMAGES}/${image}`,
    published_at: new Date(now - daysAgo * DAY_MS),
  }));
  await db`insert into promotions ${db(promotionRows)} on conflict (id) do nothing`;
  await db`insert into news ${db(newsRows)} on conflict (id) do nothing`;
}
