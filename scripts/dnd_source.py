#!/usr/bin/python3
"""A tiny GTK window offering one file by drag and drop (text/uri-list).

scripts/screenshots.sh drags from it with xdotool to drop a real file on the
studio window under Xvfb, the way a file manager would.
Usage: dnd_source.py FILE X Y
"""
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

path, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uri = "file://" + os.path.abspath(path)

win = Gtk.Window(title="dnd-source")
win.set_default_size(150, 50)
win.move(x, y)
button = Gtk.Button(label="drag " + os.path.basename(path))
button.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
button.drag_source_add_uri_targets()
button.connect("drag-data-get", lambda _w, _c, data, _i, _t: data.set_uris([uri]))
win.add(button)
win.connect("destroy", Gtk.main_quit)
win.show_all()
Gtk.main()
