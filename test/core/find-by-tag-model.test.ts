import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { envelope, unverifiedPeer, uuidFor } from "./core-fixtures.js";
import { publishNow } from "./publish-now.js";

/** Tags of one event: each key present or not, from a small alphabet so queries match some and miss some. */
const eventTags = fc.record({ a: fc.constantFrom("1", "2", undefined), b: fc.constantFrom("x", "y", undefined), c: fc.constantFrom("p", undefined) });
const queryTags = fc
  .record({ a: fc.constantFrom("1", "2", undefined), b: fc.constantFrom("x", "y", undefined), c: fc.constantFrom("p", undefined) })
  .filter((tags) => Object.values(tags).some((value) => value !== undefined));

const defined = (tags: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(tags).filter((entry): entry is [string, string] => entry[1] !== undefined));

describe("FindByTag against a model (every stored event filtered by its tags)", () => {
  it("should page through exactly the events holding every pair, in either order, with any page size and history bound", () => {
    fc.assert(
      fc.property(
        fc.array(eventTags, { minLength: 1, maxLength: 120 }),
        fc.array(fc.record({ tags: queryTags, oldestFirst: fc.boolean(), limit: fc.integer({ min: 1, max: 9 }) }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 10, max: 150 }),
        (events, queries, historyMaxEvents) => {
          const broker = new CorrelationBroker({ historyMaxEvents });
          const stored: { id: number; tags: Record<string, string> }[] = [];
          events.forEach((tags, index) => {
            const correlationTags = defined(tags);
            const result = publishNow(broker, envelope("events.model.test", { correlationId: uuidFor(index + 1), correlationTags }), unverifiedPeer);
            stored.push({ id: result.eventId, tags: correlationTags });
          });
          const held = stored.slice(-historyMaxEvents);
          for (const query of queries) {
            const tags = defined(query.tags);
            const matching = held.filter((event) => Object.entries(tags).every(([key, value]) => event.tags[key] === value)).map((event) => event.id);
            const expected = query.oldestFirst ? matching : [...matching].reverse();
            const paged: number[] = [];
            let cursor = 0;
            for (let page = 0; page < 200; page++) {
              const answer = broker.findByTag({ tags, topicPattern: "", hostId: undefined, limit: query.limit, cursor, oldestFirst: query.oldestFirst });
              paged.push(...answer.ids);
              if (answer.nextCursor === 0) break;
              cursor = answer.nextCursor;
            }
            expect(paged, JSON.stringify(query)).toEqual(expected);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
