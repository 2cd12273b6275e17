"""Services: typed, keyword-only functions named <entity>_<action>."""
