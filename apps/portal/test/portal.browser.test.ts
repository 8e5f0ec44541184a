import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, ReportedStateV1, subjects } from '@outpost/protocol';
import { waitFor } from '@outpost/testing';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedDevice } from './support/simulated-device';
import { type PortalStack, registerDevice, stackUnavailableReason, startPortalStack } from './support/stack';

/*
 * The Devices page in a real browser (Debian's chromium driven by playwright-core) against the real cloud API: the
 * bootstrap admin signs in through the login form, a device turns online and then offline on screen with no reload,
 * and signing out ends the session.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = '/tmp/portal-devices.png';
const DEVICE_SCREENSHOT = '/tmp/portal-device.png';
const HEARTBEAT_MS = 300;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skipReason = existsSync(CHROMIUM)
  ? stackUnavailableReason()
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (skipReason) console.warn(`skipping portal browser test: ${skipReason}`);

describe.skipIf(skipReason)('Devices page in a browser', () => {
  let stack: PortalStack;
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  /** Console errors and uncaught exceptions (hydration mismatches show up here). */
  const browserErrors: string[] = [];

  beforeAll(async () => {
    stack = await startPortalStack();
    userDataDir = mkdtempSync(join(tmpdir(), 'outpost-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 720 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') browserErrors.push(message.text());
    });
    page.on('pageerror', (error) => browserErrors.push(error.message));
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await stack?.stop();
  });

  it('shows a device turning online, then offline, without reloading', async () => {
    // Devices registered through the REST API, so the table has tags to show next to the live one.
    for (const [id, tags] of [
      ['gateway-berlin-01', { site: 'berlin', role: 'gateway' }],
      ['sensor-hub-07', { site: 'plant-7' }],
    ] as const) {
      await registerDevice(stack, id, tags);
    }
    const neighbour = startSimulatedDevice(stack.devices, 'gateway-berlin-01', {
      heartbeatIntervalMs: HEARTBEAT_MS,
      agentVersion: '1.3.0',
    });

    try {
      // Without a session the portal asks to sign in first, then comes back to the Devices page.
      await page.goto(`${stack.portalUrl}/`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill(stack.adminPassword);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.pathname === '/devices', { timeout: 60_000 });
      const user = page.getByTestId('signed-in-user');
      expect(await user.getByText('admin', { exact: true }).isVisible()).toBe(true);
      expect(await user.getByText('Admin', { exact: true }).isVisible()).toBe(true);
      await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 60_000 });
      // Marks this document: a reload or a full navigation would lose it.
      await page.evaluate(() => {
        document.documentElement.dataset.testDocument = 'first-load';
      });

      const row = page.locator('tr[data-device-id="press-line-3"]');
      expect(await row.count()).toBe(0);
      await registerDevice(stack, 'press-line-3');
      const device = startSimulatedDevice(stack.devices, 'press-line-3', {
        heartbeatIntervalMs: HEARTBEAT_MS,
        agentVersion: '1.4.2',
      });
      try {
        await row.and(page.locator('[data-status="online"]')).waitFor({ timeout: 60_000 });
        expect(await row.getByText('Online', { exact: true }).isVisible()).toBe(true);
        expect(await row.getByText('1.4.2').isVisible()).toBe(true);
        await page.locator('tr[data-device-id="gateway-berlin-01"][data-status="online"]').waitFor({ timeout: 60_000 });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
      } finally {
        device.stopHeartbeats();
      }

      await row.and(page.locator('[data-status="offline"]')).waitFor({ timeout: 60_000 });
      expect(await row.getByText('Offline', { exact: true }).isVisible()).toBe(true);
      expect(await page.evaluate(() => document.documentElement.dataset.testDocument)).toBe('first-load');
      expect(browserErrors).toEqual([]);

      // Each row links to the device's page, which says when the device has reported nothing yet.
      await page
        .locator('tr[data-device-id="gateway-berlin-01"]')
        .getByRole('link', { name: 'gateway-berlin-01' })
        .click();
      await page.waitForURL((url) => url.pathname === '/devices/gateway-berlin-01', { timeout: 60_000 });
      expect(await page.getByTestId('device-id').textContent()).toBe('gateway-berlin-01');
      expect(await page.getByTestId('device-status').textContent()).toBe('Online');
      expect(await page.getByText('No reported state yet').isVisible()).toBe(true);
      // Once the device reports what it runs, the page (reloaded) shows its deployment and modules.
      stack.devices.publish(
        subjects.device.reported('gateway-berlin-01'),
        encodeMessage(ReportedStateV1, {
          bootId: randomUUID(),
          seq: 1,
          reportedAt: new Date().toISOString(),
          desired: { version: 3, code: 200, description: 'applied', source: 'local', deploymentId: null, errors: [] },
          modules: {
            'opc-bridge': {
              status: 'running',
              exitCode: null,
              restartCount: 0,
              lastStartedAt: new Date().toISOString(),
              lastExitedAt: null,
              type: 'container',
              version: '4.1.0',
            },
          },
        }),
      );
      const moduleRow = page.locator('tr[data-module="opc-bridge"]');
      await waitFor(
        async () => {
          await page.reload();
          return (await moduleRow.count()) === 1;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'the reported module on the device page' },
      );
      expect(await moduleRow.getByText('4.1.0').isVisible()).toBe(true);
      expect(await page.getByTestId('deployment').getByText('applied').isVisible()).toBe(true);
      await page.screenshot({ path: DEVICE_SCREENSHOT, fullPage: true });
      expect(browserErrors).toEqual([]);

      // Signing out ends the session: the Devices page asks to sign in again.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL((url) => url.pathname === '/login', { timeout: 60_000 });
      expect(await page.getByText('You are signed out.').isVisible()).toBe(true);
      await page.goto(`${stack.portalUrl}/devices`);
      expect(new URL(page.url()).pathname).toBe('/login');
    } finally {
      neighbour.stopHeartbeats();
    }
  });
});
