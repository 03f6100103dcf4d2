"""Built-in plugins: each module is one plugin, registered through the
``codec_zoo`` entry-point group like any third-party plugin."""
