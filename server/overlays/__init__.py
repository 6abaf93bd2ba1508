"""HTML overlays on the node's side: the renderer process (headless Chromium capturing each
overlay's page) and what the node does with its images (to the streams' workers)."""
