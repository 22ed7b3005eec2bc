"""The acceptance suite shipped with skycrane-hil: `hil test --rig R` runs it against any rig."""
