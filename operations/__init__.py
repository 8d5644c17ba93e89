"""What staff watch, read across distribution, tracker and seeder: swarm health, /metrics, publish --wait."""
