/**
 * A set of objects that each keep their own index in it (field `key`, -1 when in none):
 * add, delete and has are O(1) without hashing, and nothing is kept once deleted.
 *
 * Not a Set, for the lists that gain and lose a member per connection or per request:
 * a Set replaces its table every few of those changes and, in V8, each replaced table
 * points to the next one, so one replaced table that reached the old generation keeps
 * all its successors and their members alive through young-generation collections (see
 * core/id-table.ts). An object may be in one list per key at a time.
 */
export class SlotList<K extends string, T extends Record<K, number>> {
  private items: T[] = [];

  constructor(private readonly key: K) {}

  get size(): number {
    return this.items.length;
  }

  /** Adds `item` (nothing when it is here already). */
  add(item: T): void {
    const slot = item[this.key];
    if (slot >= 0) {
      if (this.items[slot] === item) return;
      throw new Error(`SlotList.add: the item is in another list (its ${this.key} is taken)`);
    }
    (item as Record<K, number>)[this.key] = this.items.length;
    this.items.push(item);
  }

  /** Removes `item`: false when it was not here. The last member takes its slot. */
  delete(item: T): boolean {
    const slot = item[this.key];
    const items = this.items;
    if (!(slot >= 0) || items[slot] !== item) return false;
    const last = items.pop()!;
    if (last !== item) {
      items[slot] = last;
      (last as Record<K, number>)[this.key] = slot;
    }
    (item as Record<K, number>)[this.key] = -1;
    return true;
  }

  /** The member in slot `i` (0..size-1), or undefined. */
  at(i: number): T | undefined {
    return this.items[i];
  }

  /** The members now, as a copy: the list may change while the caller walks it. */
  values(): T[] {
    return this.items.slice();
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }

  /** Removes every member. */
  clear(): void {
    for (const item of this.items) (item as Record<K, number>)[this.key] = -1;
    this.items = [];
  }
}
