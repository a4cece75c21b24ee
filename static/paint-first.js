// Nothing to run: this file is loaded without `defer` just above the overview's table
// (templates/overview.html) so that the parser stops there. A script that is not deferred
// waits for the stylesheets before it, so the browser paints the page above the table as
// soon as envboard.css is in, instead of parsing on into the table meanwhile and laying out
// every row parsed so far before its first paint: at 2,000 projects that first layout took
// one to three seconds.
