// Headless Chromium for the report's browser tests and its render benchmark: Debian's chromium package
// driven by playwright-core, never a downloaded browser, each launch with a fresh profile that is removed
// when it closes.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Flags that make Chromium run here: no sandbox (root in a container), no GPU, nothing phoning home. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The browser binary: $DMA_BOUNCE_CHROMIUM, else /usr/bin/chromium. Throws with an install hint when it is missing. */
export function chromiumPath(): string {
  const path = process.env.DMA_BOUNCE_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`no Chromium at ${path}: install Debian's package (apt-get install -y chromium) or set DMA_BOUNCE_CHROMIUM to a Chromium binary`);
  }
  return path;
}

/** A running browser with one context. */
export interface LaunchedBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile; `close()` ends it and removes the profile. */
export async function launchChromium(options: { colorScheme?: 'light' | 'dark'; width?: number; height?: number } = {}): Promise<LaunchedBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'dma-bounce-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: [...CHROMIUM_FLAGS],
      colorScheme: options.colorScheme ?? 'light',
      viewport: { width: options.width ?? 1400, height: options.height ?? 1000 },
      deviceScaleFactor: 1,
      reducedMotion: 'reduce',
    });
    return {
      context,
      async close() {
        try {
          await context.close();
        } finally {
          rmSync(profile, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
