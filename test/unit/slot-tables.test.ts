import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdTable } from '../../src/core/id-table.js';
import { SlotList } from '../../src/core/slot-list.js';
import { Sweeper, type Expirable } from '../../src/core/sweeper.js';

/** A small deterministic generator (xorshift32), so a failure repeats. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

test('IdTable agrees with a Map over random adds, replaces and deletes, across growth and wrap-around', () => {
  for (const seed of [1, 7, 42, 1234]) {
    const rnd = random(seed);
    const table = new IdTable<string>(8);
    const ref = new Map<number, string>();
    // ids cluster as HTTP/2 stream ids do (odd, rising), with some far apart to force collisions
    let next = 1;
    for (let step = 0; step < 20_000; step++) {
      const r = rnd();
      if (r < 0.45) {
        const id = rnd() < 0.9 ? (next += 2) : 1 + 2 * Math.floor(rnd() * 1_000_000);
        table.set(id, `v${id}.${step}`);
        ref.set(id, `v${id}.${step}`);
      } else if (r < 0.9 && ref.size > 0) {
        const keys = [...ref.keys()];
        const id = keys[Math.floor(rnd() * keys.length)]!;
        assert.equal(table.delete(id), true);
        ref.delete(id);
      } else {
        const id = 1 + Math.floor(rnd() * (next + 10));
        assert.equal(table.delete(id), ref.delete(id), `delete ${id} (seed ${seed}, step ${step})`);
      }
      if (step % 97 === 0) {
        assert.equal(table.size, ref.size);
        for (const [id, v] of ref) assert.equal(table.get(id), v, `get ${id} (seed ${seed}, step ${step})`);
        assert.deepEqual(table.values().sort(), [...ref.values()].sort());
      }
    }
    for (const [id, v] of ref) assert.equal(table.get(id), v);
  }
});

test('IdTable: the slot an id hashes to may hold others; a delete in the middle of a run keeps the rest findable', () => {
  const table = new IdTable<number>(8); // 8 slots, homes are (id >>> 1) & 7
  // 1, 17, 33 share home 0; 3 has home 1 and is pushed past them
  for (const id of [1, 17, 33, 3]) table.set(id, id);
  assert.equal(table.delete(17), true);
  assert.equal(table.get(1), 1);
  assert.equal(table.get(33), 33);
  assert.equal(table.get(3), 3);
  assert.equal(table.get(17), undefined);
  assert.equal(table.size, 3);
  table.set(33, 330);
  assert.equal(table.get(33), 330);
  assert.equal(table.size, 3);
});

test('IdTable refuses ids outside 1..2^31-1', () => {
  const table = new IdTable<number>();
  for (const id of [0, -1, 2 ** 31, 1.5, Number.NaN]) assert.throws(() => table.set(id, 1), RangeError);
  table.set(2 ** 31 - 1, 9);
  assert.equal(table.get(2 ** 31 - 1), 9);
});

interface Member {
  listSlot: number;
  name: string;
}

test('SlotList: add is idempotent, delete moves the last member into the hole, a member of another list is refused', () => {
  const list = new SlotList<'listSlot', Member>('listSlot');
  const [a, b, c] = ['a', 'b', 'c'].map((name) => ({ listSlot: -1, name }));
  list.add(a!);
  list.add(b!);
  list.add(c!);
  list.add(b!);
  assert.equal(list.size, 3);
  assert.equal(list.delete(a!), true);
  assert.equal(list.delete(a!), false);
  assert.equal(a!.listSlot, -1);
  assert.deepEqual(list.values().map((m) => m.name).sort(), ['b', 'c']);
  assert.equal(list.values().includes(c!), true);
  assert.equal(list.values().includes(a!), false);
  const other = new SlotList<'listSlot', Member>('listSlot');
  assert.throws(() => other.add(b!), /another list/);
  assert.equal(other.delete(b!), false, 'a list does not delete what another holds');
  assert.equal(list.values().includes(b!), true);
  list.clear();
  assert.equal(list.size, 0);
  assert.equal(b!.listSlot, -1);
  other.add(b!);
  assert.equal(other.values().includes(b!), true);
});

class Item implements Expirable {
  sweepSlot = -1;
  expired = 0;
  constructor(
    public deadline: number,
    private readonly onExpire: (self: Item) => void = () => {},
  ) {}
  expire(): void {
    this.expired++;
    this.onExpire(this);
  }
}

test('Sweeper: each due item expires once per deadline, and items deleted or added by an expire() are handled', async () => {
  const sweeper = new Sweeper(10);
  try {
    const past = Date.now() - 1;
    const late = new Item(past);
    const future = new Item(Date.now() + 60_000);
    const idle = new Item(0);
    const victim = new Item(past);
    const added = new Item(past);
    // expiring `killer` deletes `victim` (wherever the sweep stands) and adds `added`
    const killer = new Item(past, () => {
      sweeper.delete(victim);
      sweeper.add(added);
    });
    const leaver = new Item(past, (self) => sweeper.delete(self));
    for (const x of [victim, late, future, killer, idle, leaver]) sweeper.add(x);
    sweeper.add(late); // twice: still once
    assert.equal(sweeper.size, 6);
    const deadline = Date.now() + 2000;
    while (added.expired === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(late.expired, 1);
    assert.equal(killer.expired, 1);
    assert.equal(leaver.expired, 1);
    assert.equal(added.expired, 1, 'an item added during a tick expires at a later one');
    assert.equal(future.expired, 0);
    assert.equal(idle.expired, 0);
    assert.equal(victim.expired <= 1, true, 'the victim expires at most once (before the killer, or never)');
    assert.equal(victim.sweepSlot, -1);
    assert.equal(sweeper.size, 5, 'leaver and victim gone, added in');
    assert.equal(leaver.sweepSlot, -1);
    // re-armed in the past: expires again at the next tick
    late.deadline = Date.now() - 1;
    while (late.expired === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(late.expired, 2);
  } finally {
    sweeper.close();
  }
});
