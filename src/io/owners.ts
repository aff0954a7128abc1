import { STREAM_SLOTS } from './addon.js';

/**
 * The owners of the addon's connections (pairs or streams), by id. An id is the slot
 * plus a generation times STREAM_SLOTS, so one array indexed by slot finds an owner
 * without hashing, and a stale id (its slot reused since) finds nothing. Not a Map: see
 * core/id-table.ts for what a Map with an add and a delete per connection costs.
 */
export class Owners<T> {
  private readonly owners: (T | undefined)[] = [];
  private readonly ids: number[] = [];

  set(id: number, owner: T): void {
    const slot = id % STREAM_SLOTS;
    this.owners[slot] = owner;
    this.ids[slot] = id;
  }

  get(id: number): T | undefined {
    const slot = id % STREAM_SLOTS;
    return this.ids[slot] === id ? this.owners[slot] : undefined;
  }

  /** Forgets `id`'s owner (nothing when the slot has moved on to another id). */
  delete(id: number): void {
    const slot = id % STREAM_SLOTS;
    if (this.ids[slot] === id) this.owners[slot] = undefined;
  }
}
