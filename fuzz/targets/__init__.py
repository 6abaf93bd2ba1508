"""One harness per parser that reads network bytes; each module defines `TARGET`."""
