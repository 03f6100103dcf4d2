"""Floor 3: files in and out (clips, colour conversion, the bitstream container, atomic
writes). Imports only the foot (``zoo.slots``, ``zoo.errors``)."""
