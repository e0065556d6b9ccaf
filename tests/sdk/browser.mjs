// Headless Chromium through playwright-core, with the Debian browser (never a downloaded one), on a
// network where only the server under test answers: every other address is refused.
import { chromium } from "playwright-core";

export async function openBrowser(serverUrl) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic",
      // Pages the tests serve by interception have no address of their own; Chromium would then treat
      // their connections to the loopback server as a public page reaching into the local network.
      "--disable-features=LocalNetworkAccessChecks"],
  });
  const context = await browser.newContext();
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(serverUrl) || url.startsWith(serverUrl.replace(/^http/, "ws"))) return route.fallback();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const sockets = serverUrl.replace(/^http/, "ws");
  await context.routeWebSocket((address) => !address.href.startsWith(sockets), (socket) => {
    blocked.push(socket.url());
    return socket.close();
  });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });
  return { browser, context, page, blocked, problems };
}
