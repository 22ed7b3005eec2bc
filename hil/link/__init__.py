"""Modbus RTU link layer: frame layout (rtu_frame) and the host-side master (rtu_client)."""
