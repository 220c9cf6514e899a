// Loaded with `node --import` into a spawned CLI: reports the process's peak RSS on exit, so a test
// can assert memory stays bounded without platform tools (/usr/bin/time is not everywhere).
process.on('exit', () => {
  process.stderr.write(`\nmax_rss_kb=${process.resourceUsage().maxRSS}\n`);
});
