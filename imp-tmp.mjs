const t0 = process.memoryUsage().rss;
const mods = process.argv.slice(2);
for (const m of mods) {
  const before = process.memoryUsage().rss;
  await import(m);
  global.gc?.();
  console.log(m.replace('/work/main/dist/src/',''), ((process.memoryUsage().rss - before)/1048576).toFixed(1), 'MiB');
}
global.gc?.();
const m = process.memoryUsage();
console.log('total rss', (m.rss/1048576).toFixed(1), 'heapUsed', (m.heapUsed/1048576).toFixed(1), 'external', (m.external/1048576).toFixed(1));
