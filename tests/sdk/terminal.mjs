// Opens the local backend's Shell tab in headless Chromium as a console frame would (signed in by the login's
// cookie, no bearer header), types a command and waits for its output on the rendered xterm.js screen.
// Prints one JSON line: {"screen": "...", "sizes": ["rows cols", ...]}.
import { openBrowser } from './browser.mjs';

const { BASE_URL, USERNAME, PASSWORD, SANDBOX_ID } = process.env;

const { browser, context, page, blocked, problems } = await openBrowser(BASE_URL);
try {
  const login = await context.request.post(`${BASE_URL}/api/auth/login`, {
    data: { username: USERNAME, password: PASSWORD },
  });
  if (!login.ok()) throw new Error(`login failed: ${login.status()} ${await login.text()}`);
  page.on('response', (response) => { if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`); });
  await page.goto(`${BASE_URL}/api/flexy/${SANDBOX_ID}/shell`);
  await page.waitForSelector('.xterm-rows');
  const screen = () => page.evaluate(() => document.querySelector('.xterm-rows').textContent);
  const typeLine = async (line, expected) => {
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      (text) => document.querySelector('.xterm-rows').textContent.includes(text), expected, { timeout: 20000 },
    );
  };

  await page.locator('.xterm').click();
  await typeLine('echo rendered-$((6*7))', 'rendered-42');
  const echoed = await screen();
  // The expected text is the command's output, never what was typed (which the terminal shows at once).
  const size = async (marker) => {
    await typeLine(`clear; stty size; echo ${marker}-$((1+1))`, `${marker}-2`);
    const found = (await screen()).match(new RegExp(`(\\d+ \\d+)\\s*${marker}-2`));
    return found ? found[1] : `no size on the screen: ${await screen()}`;
  };
  const before = await size('first');
  const rows = () => document.querySelector('.xterm-rows').children.length;
  const rowsBefore = await page.evaluate(rows);
  await page.setViewportSize({ width: 500, height: 300 });
  // Once xterm.js has fitted itself to the new size it has sent the resize, ahead of the keys typed next.
  await page.waitForFunction((count) => document.querySelector('.xterm-rows').children.length !== count, rowsBefore);
  const after = await size('second');
  if (problems.length) throw new Error(`the page reported errors: ${problems.join('; ')}`);
  if (blocked.length) throw new Error(`the page reached other sites: ${blocked.join(', ')}`);
  console.log(JSON.stringify({ screen: echoed, sizes: [before, after] }));
} finally {
  await browser.close();
}
