// Demo module for `pnpm dev`: a simulated temperature sensor that prints one JSON reading every 2 s.
// Real modules talk to the device hub through @outpost/module-sdk; this one only shows a module running and logging.
const intervalMs = Number(process.env.SENSOR_INTERVAL_MS ?? 2000);
let t = 0;
const timer = setInterval(() => {
  t += 1;
  const temperature = 21 + 3 * Math.sin(t / 10) + (Math.random() - 0.5) * 0.4;
  process.stdout.write(
    `${JSON.stringify({ at: new Date().toISOString(), temperature: Number(temperature.toFixed(2)) })}\n`,
  );
}, intervalMs);
process.on('SIGTERM', () => {
  clearInterval(timer);
  process.stdout.write('sensor: stopping\n');
  process.exit(0);
});
