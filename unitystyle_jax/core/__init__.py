"""What every layer above leans on and nothing here leans on them: errors (one `UserError` base), atomic files,
checkpoints, the device mesh, the training loop, the workdir lock, pictures, CPU flags."""
