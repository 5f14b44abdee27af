/** Debian's Chromium, driven by playwright-core (no browser download). */
import { type Browser, chromium } from "playwright-core";

/**
 * Launches headless Chromium the way this machine allows: no network chatter that the closed network would
 * refuse, no sandbox (tests run as root). Playwright gives each launch a fresh profile.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
