#!/usr/bin/env node
// Benchmark of @outpost/routing, run on the built package (pnpm build first; turbo does it for `pnpm bench`).
//   node bench/run.mjs [--quick]
// Prints evaluations per second for typical conditions and, separately, how long parsing and compiling take.
// Each figure is the median of several timed rounds after a warm-up; the machine is shared, so expect some noise.
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { compileCondition, compileRoutes, evaluateRoutes, parseRoute } from '../dist/index.js';

const quick = process.argv.includes('--quick');
const ROUND_MS = quick ? 150 : 500;
const ROUNDS = quick ? 3 : 5;

const encoder = new TextEncoder();
const bodyJson = JSON.stringify({
  message: {
    Weather: {
      Temperature: 50,
      Location: { Street: 'One Microsoft Way', City: 'Redmond', State: 'WA' },
      History: [
        { Month: 'Feb', Temperature: 40 },
        { Month: 'Jan', Temperature: 30 },
      ],
    },
  },
  padding: 'x'.repeat(200),
});
const message = {
  source: '/messages/modules/sensor/outputs/out1',
  body: encoder.encode(bodyJson),
  appProperties: {
    alarm: 'on',
    temperature: '42.5',
    site: 'Plant-A',
    mode: 'AUTO',
    line: 'L7',
    serial: 'SN-12345',
    batch: 'b-9',
    status: 'running',
    zone: 'North',
  },
  systemProperties: {
    connectionDeviceId: 'sensor-7',
    contentType: 'application/json',
    contentEncoding: 'utf-8',
  },
};

const PROPERTY = "site = 'Plant-A'";
const BODY = '$body.message.Weather.Temperature > 40';
const TEN_CLAUSES = [
  "alarm = 'on'",
  'as_number(temperature) > 30',
  "site = 'Plant-A'",
  "mode <> 'MAINTENANCE'",
  "starts_with(line, 'L')",
  'length(serial) = 8',
  "$connectionDeviceId = 'sensor-7'",
  'is_defined(batch)',
  "NOT (status = 'idle')",
  "lower(zone) = 'north'",
].join(' AND ');

/** Runs `body(iterations)` repeatedly, growing `iterations` until one call takes about ROUND_MS. Returns ops/s. */
function measure(body) {
  let iterations = 1000;
  for (;;) {
    const start = performance.now();
    body(iterations);
    const elapsed = performance.now() - start;
    if (elapsed > ROUND_MS / 4) break;
    iterations *= 4;
  }
  const rates = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    body(iterations);
    rates.push(iterations / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

let sink = 0; // results feed this so the work cannot be optimised away

function evaluations(condition, options, makeMessage) {
  const compiled = compileCondition(condition, options);
  if (compiled.evaluate(message) !== 'true') throw new Error(`bench condition is not true: ${condition}`);
  return measure((n) => {
    for (let i = 0; i < n; i++) if (compiled.evaluate(makeMessage()) === 'true') sink++;
  });
}

const sameMessage = () => message;
// 1,024 distinct message objects (half of them match), so nothing is specialised to one object.
const pool = Array.from({ length: 1024 }, (_, i) => ({
  ...message,
  appProperties: { ...message.appProperties, site: i % 2 === 0 ? 'Plant-A' : `Plant-${i}` },
}));
let next = 0;
const pooledMessage = () => pool[next++ & 1023];
// A new message object each time: the body is decoded and JSON.parse'd on every evaluation.
const freshMessage = () => ({ ...message });

const format = (rate) => Math.round(rate).toLocaleString('en-US');
const rows = [];
function report(label, rate, unit = 'evaluations/s') {
  rows.push([label, format(rate), unit]);
  console.log(`${label.padEnd(58)} ${format(rate).padStart(14)} ${unit}`);
}

console.log(`@outpost/routing bench — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}\n`);

report(`property comparison   ${PROPERTY}`, evaluations(PROPERTY, {}, sameMessage));
report('property comparison over 1,024 distinct messages', evaluations(PROPERTY, {}, pooledMessage));
report(`$body query           ${BODY}`, evaluations(BODY, { body: true }, sameMessage));
report('$body query, new message each time (decode + JSON.parse)', evaluations(BODY, { body: true }, freshMessage));
report('10-clause condition (all clauses evaluated)', evaluations(TEN_CLAUSES, {}, sameMessage));

const table = {};
for (let i = 0; i < 20; i++) {
  table[`route${i}`] = {
    route: `FROM /messages/modules/sensor/* WHERE site = 'Plant-${i}' AND $body.message.Weather.Temperature > ${i} INTO BrokeredEndpoint("/modules/m${i % 5}/inputs/in")`,
    priority: i % 10,
  };
}
table.upstream = 'FROM /messages/* INTO $upstream';
const compiledTable = compileRoutes(table);
report(
  'evaluateRoutes, 21-route table, new message each time',
  measure((n) => {
    for (let i = 0; i < n; i++) sink += evaluateRoutes(compiledTable, freshMessage()).length;
  }),
  'messages/s',
);

console.log('\nparse / compile (once per route, not per message):');
const ROUTE = `FROM /messages/modules/sensor/outputs/* WHERE ${TEN_CLAUSES} INTO BrokeredEndpoint("/modules/alerts/inputs/in1")`;
const perCall = (rate) => `${(1e6 / rate).toFixed(1)} µs each`;
const compileRate = (condition, options) =>
  measure((n) => {
    for (let i = 0; i < n; i++) sink += compileCondition(condition, options).text.length;
  });
for (const [label, rate] of [
  ['compileCondition (parse + type-check + closures): property', compileRate(PROPERTY, {})],
  ['compileCondition: $body query', compileRate(BODY, { body: true })],
  ['compileCondition: 10-clause condition', compileRate(TEN_CLAUSES, {})],
  [
    'parseRoute: route with a 10-clause WHERE',
    measure((n) => {
      for (let i = 0; i < n; i++) sink += parseRoute(ROUTE).condition.length;
    }),
  ],
]) {
  console.log(`${label.padEnd(58)} ${format(rate).padStart(14)} per second (${perCall(rate)})`);
}

if (sink === 0) console.log('(no work done?)');
