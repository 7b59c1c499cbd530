"""The live view's page: HTML and plain JavaScript on a 2D canvas, polling `/scene`.

Colours match the replay and the RViz markers: robot yellow, tether red, commanded velocity
blue, achieved green. The plots at the bottom: the last 20 s of commanded vs achieved v, omega.
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crawler_rl live view</title>
<style>
  html, body { margin: 0; height: 100%; background: #30343a; color: #eee;
               font: 13px monospace; overflow: hidden; }
  #scene { display: block; width: 100%; height: 100%; }
  #status { position: absolute; left: 8px; top: 6px; white-space: pre;
            background: rgba(0, 0, 0, 0.55); padding: 4px 6px; }
</style>
</head>
<body>
<canvas id="scene"></canvas>
<div id="status">waiting for the robot...</div>
<script>
"use strict";
const COLORS = {hull: "#dfe3e8", grid: "#ffffff", robot: "#f2c200", tether: "#d62728",
                commanded: "#1f77b4", achieved: "#2ca02c", path: "#202020"};
const ARROW_SCALE = 3.0;   // drawn metres per m/s, as the RViz markers
const VIEW_METRES = 1.6;   // the shorter side of the window shows this much hull
const HISTORY_S = 20.0;
const canvas = document.getElementById("scene");
const status = document.getElementById("status");
const context = canvas.getContext("2d");
let scene = null;

function resize() {
  canvas.width = window.innerWidth;
  canvas.height = window.innerHeight;
}

function drawArrow(toScreen, x, y, heading, speed, color, lineWidth) {
  const length = ARROW_SCALE * speed;
  const [sx, sy] = toScreen(x, y);
  const [ex, ey] = toScreen(x + length * Math.cos(heading), y + length * Math.sin(heading));
  context.strokeStyle = color;
  context.fillStyle = color;
  context.lineWidth = lineWidth;
  context.beginPath(); context.moveTo(sx, sy); context.lineTo(ex, ey); context.stroke();
  const angle = Math.atan2(ey - sy, ex - sx);
  context.beginPath();
  context.moveTo(ex, ey);
  context.lineTo(ex - 12 * Math.cos(angle - 0.4), ey - 12 * Math.sin(angle - 0.4));
  context.lineTo(ex - 12 * Math.cos(angle + 0.4), ey - 12 * Math.sin(angle + 0.4));
  context.closePath(); context.fill();
}

function drawPolyline(toScreen, points, color, width) {
  if (points.length < 2) return;
  context.strokeStyle = color;
  context.lineWidth = width;
  context.beginPath();
  points.forEach(([x, y], index) => {
    const [sx, sy] = toScreen(x, y);
    if (index === 0) context.moveTo(sx, sy); else context.lineTo(sx, sy);
  });
  context.stroke();
}

function drawHistory(column, label, left, top, plotWidth, plotHeight) {
  // scene.history rows: [time, commanded v, commanded omega, achieved v, achieved omega]
  context.fillStyle = "rgba(0, 0, 0, 0.55)";
  context.fillRect(left, top, plotWidth, plotHeight);
  context.fillStyle = "#eee";
  context.fillText(label + ": commanded (blue) vs achieved (green), last 20 s", left + 6,
                   top + 14);
  const history = scene.history;
  if (history.length < 2) return;
  const now = history[history.length - 1][0];
  const values = history.flatMap((row) => [row[1 + column], row[3 + column]]);
  const span = column === 0 ? 0.02 : 0.1;
  const low = Math.min(-span, ...values), high = Math.max(span, ...values);
  const toPlot = (time, value) => [
    left + plotWidth * (1 - (now - time) / HISTORY_S),
    top + plotHeight - 6 - (plotHeight - 26) * (value - low) / (high - low)];
  for (const [offset, color] of [[1, COLORS.commanded], [3, COLORS.achieved]]) {
    context.strokeStyle = color;
    context.lineWidth = 2;
    context.beginPath();
    history.forEach((row, index) => {
      const [px, py] = toPlot(row[0], row[offset + column]);
      if (index === 0) context.moveTo(px, py); else context.lineTo(px, py);
    });
    context.stroke();
  }
}

function draw() {
  const width = canvas.width, height = canvas.height;
  context.fillStyle = COLORS.hull;
  context.fillRect(0, 0, width, height);
  if (!scene || !scene.robot) return;
  const [rx, ry, heading] = scene.robot;
  const scale = Math.min(width, height) / VIEW_METRES;  // pixels per metre
  const toScreen = (x, y) => [width / 2 + (x - rx) * scale, height / 2 - (y - ry) * scale];
  // The 10 cm grid of the (unrolled) hull surface, moving under the fixed camera.
  context.strokeStyle = COLORS.grid;
  context.lineWidth = 1;
  const halfX = width / 2 / scale, halfY = height / 2 / scale;
  for (let x = Math.floor((rx - halfX) * 10) / 10; x <= rx + halfX; x += 0.1) {
    const [sx] = toScreen(x, 0);
    context.beginPath(); context.moveTo(sx, 0); context.lineTo(sx, height); context.stroke();
  }
  for (let y = Math.floor((ry - halfY) * 10) / 10; y <= ry + halfY; y += 0.1) {
    const [, sy] = toScreen(0, y);
    context.beginPath(); context.moveTo(0, sy); context.lineTo(width, sy); context.stroke();
  }
  drawPolyline(toScreen, scene.path, COLORS.path, 2);
  drawPolyline(toScreen, scene.tether, COLORS.tether, 3);
  const [ax, ay] = toScreen(scene.hull.anchor[0], scene.hull.anchor[1]);
  context.fillStyle = COLORS.tether;
  context.fillRect(ax - 7, ay - 7, 14, 14);
  // The robot: chassis with a nose, rotated to its heading on the surface.
  const [length, breadth] = scene.footprint;
  const outline = [[-0.5, -0.5], [0.1, -0.5], [0.9, 0], [0.1, 0.5], [-0.5, 0.5]];
  context.fillStyle = COLORS.robot;
  context.strokeStyle = "#000";
  context.lineWidth = 2;
  context.beginPath();
  outline.forEach(([u, w], index) => {
    const bx = u * length, by = w * breadth;
    const [sx, sy] = toScreen(rx + bx * Math.cos(heading) - by * Math.sin(heading),
                              ry + bx * Math.sin(heading) + by * Math.cos(heading));
    if (index === 0) context.moveTo(sx, sy); else context.lineTo(sx, sy);
  });
  context.closePath(); context.fill(); context.stroke();
  // Commanded wide underneath, achieved narrow on top: both stay visible when they agree.
  drawArrow(toScreen, rx, ry, heading, scene.commanded[0], COLORS.commanded, 9);
  drawArrow(toScreen, rx, ry, heading, scene.achieved[0], COLORS.achieved, 3);
  // A 20 cm scale bar.
  context.fillStyle = "#000";
  context.fillRect(width - 20 - 0.2 * scale, height - 130, 0.2 * scale, 5);
  context.fillText("20 cm", width - 20 - 0.2 * scale, height - 136);
  const plotWidth = (width - 30) / 2;
  drawHistory(0, "v [m/s]", 10, height - 110, plotWidth, 100);
  drawHistory(1, "omega [rad/s]", 20 + plotWidth, height - 110, plotWidth, 100);
}

function showStatus() {
  const [cv, cw] = scene.commanded, [av, aw] = scene.achieved;
  const sign = (value, digits) => (value >= 0 ? "+" : "") + value.toFixed(digits);
  status.textContent =
    `${scene.hull.label || "hull"}  t=${scene.time.toFixed(1)} s  tether ` +
    `${scene.tether_tension.toFixed(0)} N\\n` +
    `cmd  v=${sign(cv, 3)} m/s  w=${sign(cw, 2)} rad/s\\n` +
    `got  v=${sign(av, 3)} m/s  w=${sign(aw, 2)} rad/s\\n` +
    `${scene.hull.axes[0]} / ${scene.hull.axes[1]}`;
}

async function poll() {
  try {
    const response = await fetch("scene", {cache: "no-store"});
    scene = await response.json();
    if (scene.robot) showStatus();
  } catch (error) {
    status.textContent = "no connection to the robot view: " + error;
  }
  draw();
  setTimeout(poll, 100);
}

window.addEventListener("resize", () => { resize(); draw(); });
resize();
poll();
</script>
</body>
</html>
"""
