// Headwater's built-in player: LL-HLS through hls.js, native HLS where the browser has it
// (Safari), dash.js otherwise. While the stream is offline it says so and retries.
// `?engine=hls|native|dash` forces an engine. 360°/180° streams are drawn through WebGL.
// A DVR stream gets a seek bar across its window (the media element's seekable range, which
// hls.js and dash.js keep on the playlist's / MPD's window) and a "live" button back to the edge.
// A recorded video (`config.vod`) plays from its start with the video element's own controls,
// says "Ended" at its end and "Video not found" instead of waiting for a broadcast. A page
// whose signed playback token the node refuses (403) says so and stops.
(function () {
  "use strict";
  const config = window.HEADWATER;
  // dash.js needs absolute URLs: its CMCD reporter throws on a relative one (`new URL`), and
  // the throw ended its manifest refreshes, so playback stopped at the first MPD's end.
  const absolute = (path) => new URL(path, location.href).href;
  const video = document.getElementById("video");
  const status = document.getElementById("status");
  const RETRY_MS = 3000;
  const state = (window.headwaterPlayer = { engine: null, state: "connecting", errors: [] });
  let detach = null;
  let retryTimer = null;
  let toLive = null; // the engine's way back to its live edge
  let catchUp = null; // the engine's live catch-up on/off: off while the viewer watches back in the window

  function show(text, playing) {
    state.state = playing ? "playing" : text.toLowerCase();
    status.textContent = text;
    status.hidden = !!playing;
  }

  function chooseEngine() {
    const forced = new URLSearchParams(location.search).get("engine");
    if (forced) return forced;
    if (window.Hls && Hls.isSupported()) return "hls";
    if (video.canPlayType("application/vnd.apple.mpegurl")) return "native";
    return "dash";
  }

  // A 404 on the master playlist is the node saying "not live": no need to start an engine.
  // A 403 is signed playback refusing the page's token (expired): retrying cannot help.
  async function masterStatus() {
    try {
      const response = await fetch(config.hls, { cache: "no-store" });
      return response.status;
    } catch (error) {
      return 0;
    }
  }

  function offline(reason) {
    if (reason) state.errors.push(reason);
    if (config.vod) {
      if (detach && !reason) return show("Ended", false);
      if (detach) { detach(); detach = null; }
      return show(reason ? "Playback error" : "Video not found", false);
    }
    if (detach) { detach(); detach = null; }
    toLive = catchUp = null;
    show("Offline — waiting for the broadcast", false);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, RETRY_MS);
  }

  const engines = {
    hls() {
      // Catch up (at most 10 % faster) to the playlist's PART-HOLD-BACK: hls.js starts about
      // one part behind it (the parts it fetches before playing) and by default never catches up.
      const hls = new Hls(config.vod ? { lowLatencyMode: false }
        : { lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.1 });
      hls.on(Hls.Events.ERROR, (event, data) => { if (data.fatal) offline("hls: " + data.details); });
      hls.loadSource(absolute(config.hls));
      hls.attachMedia(video);
      video.play().catch(() => {});
      toLive = () => { if (hls.liveSyncPosition) video.currentTime = hls.liveSyncPosition; };
      return () => hls.destroy();
    },
    native() {
      video.src = config.hls;
      video.play().catch(() => {});
      return () => { video.removeAttribute("src"); video.load(); };
    },
    // dash.js starts playback itself (autoplay): a play() of ours while it seeks to the
    // live edge left it without manifest refreshes, stalled at the first MPD's end.
    dash() {
      const player = dashjs.MediaPlayer().create();
      // the MPD's ServiceDescription sets the live delay (a segment and two parts)
      if (!config.vod) player.updateSettings({ streaming: { liveCatchup: { enabled: true } } });
      player.on(dashjs.MediaPlayer.events.ERROR, (event) => offline("dash: " + JSON.stringify(event.error || event)));
      player.initialize(video, absolute(config.dash), true);
      toLive = () => player.seekToOriginalLive ? player.seekToOriginalLive() : player.seek(player.duration());
      // dash.js' catch-up pulls a viewer who went back in the DVR window to the live edge
      catchUp = (on) => player.updateSettings({ streaming: { liveCatchup: { enabled: on } } });
      return () => player.reset();
    },
  };

  async function start() {
    const answer = await masterStatus();
    if (answer === 403) return show("This playback link has expired or is not valid", false);
    if (answer < 200 || answer > 299) return offline();
    state.engine = chooseEngine();
    show("Loading…", false);
    detach = engines[state.engine]();
  }

  video.addEventListener("playing", () => show("", true));
  video.addEventListener("waiting", () => show("Buffering…", false));
  video.addEventListener("ended", () => offline());
  video.addEventListener("error", () => offline("video element error"));

  if (config.projection && config.projection !== "regular" && window.WebGLRenderingContext) {
    sphericalView(config.projection);
  }
  if (config.dvr) dvrBar();
  start();

  // The DVR window's seek bar: from the oldest listed second to the newest; dragging seeks,
  // "LIVE" goes back to the engine's live position. `headwaterPlayer.window` tells the tests.
  function dvrBar() {
    const bar = document.getElementById("dvr");
    const seek = document.getElementById("seek");
    const behind = document.getElementById("behind");
    const live = document.getElementById("live");
    const AT_EDGE_S = 8; // within a segment and its hold-back of the edge: "live"
    let dragging = false;
    seek.addEventListener("pointerdown", () => { dragging = true; });
    seek.addEventListener("pointerup", () => { dragging = false; });
    seek.addEventListener("input", () => {
      const end = video.seekable.length ? video.seekable.end(video.seekable.length - 1) : 0;
      if (catchUp) catchUp(end - Number(seek.value) < AT_EDGE_S);
      video.currentTime = Number(seek.value);
    });
    seek.addEventListener("change", () => { dragging = false; });
    live.addEventListener("click", () => {
      if (catchUp) catchUp(true);
      if (toLive) toLive();
      else if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1);
    });
    state.seekTo = (seconds) => { seek.value = String(seconds); seek.dispatchEvent(new Event("input")); };
    state.goLive = () => live.click();
    setInterval(() => {
      const ranges = video.seekable;
      if (!ranges.length || state.state.startsWith("offline")) { bar.hidden = true; return; }
      const start = ranges.start(0), end = ranges.end(ranges.length - 1);
      state.window = { start, end };
      bar.hidden = false;
      seek.min = String(start);
      seek.max = String(end);
      if (!dragging) seek.value = String(video.currentTime);
      const back = Math.max(0, end - video.currentTime);
      behind.textContent = back < AT_EDGE_S ? "" : "−" + Math.round(back) + " s";
      live.classList.toggle("at-edge", back < AT_EDGE_S);
    }, 500);
  }

  // 360° (vr360), 180° (vr180) and top-bottom stereo 360° (vr360tb, left eye shown): each
  // screen pixel's view ray is turned into longitude/latitude and looked up in the frame.
  function sphericalView(projection) {
    const canvas = document.createElement("canvas");
    video.after(canvas);
    video.style.visibility = "hidden";
    const gl = canvas.getContext("webgl");
    if (!gl) { video.style.visibility = ""; canvas.remove(); return; }
    const vertex = "attribute vec2 p; varying vec2 v; void main(){ v = p; gl_Position = vec4(p, 0.0, 1.0); }";
    const fragment = `precision mediump float; varying vec2 v; uniform sampler2D frame;
      uniform float yaw, pitch, aspect, span, rows;
      void main() {
        vec3 ray = normalize(vec3(v.x * aspect * 0.8, v.y * 0.8, 1.0));
        float cp = cos(pitch), sp = sin(pitch);
        ray = vec3(ray.x, ray.y * cp + ray.z * sp, -ray.y * sp + ray.z * cp);
        float lon = atan(ray.x, ray.z) + yaw, lat = asin(clamp(ray.y, -1.0, 1.0));
        float u = fract(lon / span + 0.5);
        if (span < 6.0 && abs(lon) > span / 2.0) { gl_FragColor = vec4(0.0, 0.0, 0.0, 1.0); return; }
        gl_FragColor = texture2D(frame, vec2(u, (0.5 - lat / 3.14159265) / rows));
      }`;
    const program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, vertex], [gl.FRAGMENT_SHADER, fragment]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    gl.useProgram(program);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const position = gl.getAttribLocation(program, "p");
    gl.enableVertexAttribArray(position);
    gl.vertexAttribPointer(position, 2, gl.FLOAT, false, 0, 0);
    gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
    for (const [name, value] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) {
      gl.texParameteri(gl.TEXTURE_2D, name, value);
    }
    const uniform = (name) => gl.getUniformLocation(program, name);
    const view = { yaw: 0, pitch: 0 };
    gl.uniform1f(uniform("span"), projection === "vr180" ? Math.PI : 2 * Math.PI);
    gl.uniform1f(uniform("rows"), projection === "vr360tb" ? 2.0 : 1.0);
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, ...view }; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      view.yaw = drag.yaw - (e.clientX - drag.x) * 0.005;
      view.pitch = Math.max(-1.5, Math.min(1.5, drag.pitch + (e.clientY - drag.y) * 0.005));
    });
    canvas.addEventListener("click", () => { video.muted = !video.muted; });
    (function draw() {
      const width = canvas.clientWidth, height = canvas.clientHeight;
      if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
      gl.viewport(0, 0, width, height);
      if (video.readyState >= 2) gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, video);
      gl.uniform1f(uniform("yaw"), view.yaw);
      gl.uniform1f(uniform("pitch"), view.pitch);
      gl.uniform1f(uniform("aspect"), width / Math.max(height, 1));
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      requestAnimationFrame(draw);
    })();
  }
})();
