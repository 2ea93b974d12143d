"""Eclipse Sparkplug B 3.0 for the camera (``[mqtt] mode = "sparkplug"``).

:class:`SparkplugSession` (in :mod:`.session`) turns the publisher's stored JSON rows into
NDATA/DDATA at send time and handles births, the NDEATH will with its bdSeq, ``seq``, aliases,
rebirth commands and the primary host's STATE. The protobuf classes (``sparkplug_b_pb2``) are
generated from our own ``sparkplug_b.proto`` (written from the specification) by
``python -m edge.publish.sparkplug.generate`` and committed; :mod:`.codec` holds the metric table
and value conversions. Importing this package needs the ``protobuf`` runtime.
"""

try:
    from edge.publish.sparkplug import sparkplug_b_pb2
except ImportError as exc:
    raise ImportError(
        'mqtt mode = "sparkplug" needs the protobuf package (pip install "steelsight[edge]")'
    ) from exc
except Exception as exc:  # protobuf's VersionError: the runtime is older than the generated code
    raise ImportError(f'mqtt mode = "sparkplug" needs a newer protobuf package: {exc}') from exc

from edge.publish.sparkplug.codec import decode, metric_value, properties_dict
from edge.publish.sparkplug.session import NAMESPACE, BdSeqStore, SparkplugSession, SparkplugTopics

__all__ = [
    "NAMESPACE",
    "BdSeqStore",
    "SparkplugSession",
    "SparkplugTopics",
    "decode",
    "metric_value",
    "properties_dict",
    "sparkplug_b_pb2",
]
