// Copies the players' browser builds next to the page that loads them (server/delivery/static/vendor/),
// so the node serves them itself and no viewer depends on a third-party CDN.
const fs = require("fs");
const path = require("path");

const modules = path.join(__dirname, "node_modules");
const vendor = path.join(__dirname, "..", "server", "delivery", "static", "vendor");
const files = {
  "hls.min.js": path.join(modules, "hls.js", "dist", "hls.min.js"),
  "dash.all.min.js": path.join(modules, "dashjs", "dist", "modern", "umd", "dash.all.min.js"),
};
fs.mkdirSync(vendor, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  fs.copyFileSync(source, path.join(vendor, name));
}
fs.writeFileSync(path.join(vendor, ".installed"), "");
